// Command withpg runs a command against one throwaway PostgreSQL cluster, so a
// whole test run shares a single cluster:
//
//	go run ./tools/withpg -- go test ./...
//
// The cluster lives in a new temporary folder with durability turned off. Its
// superuser URL (database "postgres") is exported to the command as
// RIGHTSDESK_TEST_DATABASE_URL. A private Dovecot IMAP server is started
// beside it when Dovecot is installed (internal/dovecotlocal; its address,
// certificate and users folder exported as RIGHTSDESK_TEST_IMAP_*), and a
// throwaway MariaDB (internal/mariadblocal) when MariaDB's server binaries
// are, its root URL exported as RIGHTSDESK_TEST_MYSQL_URL (the data map's
// tests use it). When the command ends, or withpg gets SIGINT
// or SIGTERM, the cluster is stopped and its folder removed; withpg exits with
// the command's exit code.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"rightsdesk/internal/dovecotlocal"
	"rightsdesk/internal/mariadblocal"
	"rightsdesk/internal/pglocal"
)

const (
	envURL      = "RIGHTSDESK_TEST_DATABASE_URL"
	envMySQLURL = "RIGHTSDESK_TEST_MYSQL_URL"
)

func main() {
	os.Exit(run())
}

func run() int {
	verbose := flag.Bool("v", false, "log the cluster's start and stop")
	settings := map[string]string{}
	flag.Func("set", "a server setting name=value over the test settings (repeatable), e.g. -set fsync=on", func(v string) error {
		name, value, ok := strings.Cut(v, "=")
		if !ok || name == "" {
			return fmt.Errorf("want name=value, got %q", v)
		}
		settings[name] = value
		return nil
	})
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: withpg [-v] [-set name=value]... -- command [args...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	// Registered before the cluster starts: a signal must never end withpg
	// before it has stopped the cluster and removed its folder.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	startCtx, cancelStart := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	srv, err := pglocal.StartTemporaryWith(startCtx, logger, settings)
	cancelStart()
	if err != nil {
		fmt.Fprintf(os.Stderr, "withpg: %v\n", err)
		return 1
	}
	env := []string{envURL + "=" + srv.ConnString("postgres")}
	imapCtx, cancelIMAP := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if _, err := dovecotlocal.FindBinary(); err != nil {
		fmt.Fprintf(os.Stderr, "withpg: %v; IMAP tests will start their own or fail\n", err)
	} else if imap, err := dovecotlocal.Start(imapCtx, dovecotlocal.Options{Logger: logger}); err != nil {
		fmt.Fprintf(os.Stderr, "withpg: %v\n", err)
	} else {
		defer func() { _ = imap.Stop(context.Background()) }() // a throwaway server in a throwaway folder
		env = append(env, imap.Env()...)
	}
	cancelIMAP()
	if _, _, err := mariadblocal.FindBinaries(); err == nil {
		my, err := mariadblocal.StartTemporary(context.Background(), logger)
		if err != nil {
			fmt.Fprintf(os.Stderr, "withpg: %v\n", err)
			_ = srv.Stop(context.Background()) // the MariaDB error is the one to report
			return 1
		}
		defer func() {
			if err := my.Stop(context.Background()); err != nil {
				fmt.Fprintf(os.Stderr, "withpg: %v\n", err)
			}
		}()
		env = append(env, envMySQLURL+"="+my.URL(""))
	}
	code := runCommand(flag.Args(), env, signals)
	if err := srv.Stop(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "withpg: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// runCommand runs args with stdio passed through and returns its exit code.
// Signals are forwarded to it (the first as sent, a second one kills it).
func runCommand(args []string, env []string, signals <-chan os.Signal) int {
	select {
	case sig := <-signals:
		return exitCodeForSignal(sig)
	default:
	}
	cmd := exec.Command(args[0], args[1:]...) // #nosec G204 -- runs the command its caller gave it (a test runner), by design
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "withpg: %v\n", err)
		return 127
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	forwarded := 0
	for {
		select {
		case err := <-done:
			var exitErr *exec.ExitError
			if err != nil && !errors.As(err, &exitErr) {
				fmt.Fprintf(os.Stderr, "withpg: %v\n", err)
				return 1
			}
			return exitCode(cmd.ProcessState)
		case sig := <-signals:
			forwarded++
			if forwarded == 1 {
				_ = cmd.Process.Signal(sig) // the child may have exited already
			} else {
				_ = cmd.Process.Kill() // the child may have exited already
			}
		}
	}
}

func exitCode(state *os.ProcessState) int {
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()) // as a shell reports it
	}
	return state.ExitCode()
}

func exitCodeForSignal(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}
