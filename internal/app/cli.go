package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"

	"rightsdesk/internal/config"
	"rightsdesk/internal/operator"
)

// Version is set at build time with -ldflags "-X rightsdesk/internal/app.Version=v1.2.3".
var Version = "dev"

type command struct {
	name, summary, usage string
	run                  func(ctx context.Context, c *cli, args []string) error
}

type cli struct {
	env            config.Env
	stdout, stderr io.Writer
	command        string // the command being run
}

func commands() []command {
	return []command{
		{"serve", "run the portal (HTTP server and background jobs)",
			"rightsdesk serve\n\nRuns the portal until SIGINT or SIGTERM. Settings come from the environment\n(see the README). With no DATABASE_URL it starts a private PostgreSQL in\n$RIGHTSDESK_DATA_DIR/postgres (default ./var/postgres); with no SMTP_URL\nemails go to the development mailbox ($RIGHTSDESK_DATA_DIR/mailbox and /dev/mailbox).",
			runServe},
		{"migrate", "apply database migrations and exit",
			"rightsdesk migrate\n\nApplies every pending migration (rightsdesk's and River's) to DATABASE_URL,\nor to the private PostgreSQL when it is not set. serve does this on start too.",
			runMigrate},
		{"deadline", "print the due date a deadline rule gives",
			"rightsdesk deadline --type T --received RFC3339 [--preset P] [--confirmed RFC3339] [--operator SLUG]\n\nPrints {\"due_at\", \"rule\", \"legal_ref\"} for a request of type T received at the\ngiven instant, under DEADLINE_PRESET (or --preset) with POLICY_FILE and\nPROMISED_DAYS applied, in TIMEZONE. For checking a set-up before relying on it.\n\n--operator names the operator of OPERATORS_FILE whose settings to use; it is\nrequired when the file names several (rightsdesk operator list).",
			runDeadline},
		{"user", "add and list staff accounts", userUsage, runUser},
		{"apikey", "create, list and revoke staff API keys", apikeyUsage, runAPIKey},
		{"key", "generate an encryption key, or rotate to a new one", keyUsage, runKey},
		{"email", "pause or resume email delivery, or see what waits", emailUsage, runEmail},
		{"reminders", "send (or rehearse) one sweep of deadline reminders", remindersUsage, runReminders},
		{"links", "replace the status links handed out before an upgrade", linksUsage, runLinks},
		{"operator", "list the operators this deployment serves, or check the operators file", operatorUsage, runOperator},
		{"datamap", "check the data map against the systems, or show what a request would do", datamapUsage, runDatamap},
		{"version", "print the version",
			"rightsdesk version\n\nPrints the version, the Go version and the platform.",
			runVersion},
		{"help", "show help for a command",
			"rightsdesk help [command]",
			nil},
	}
}

// errUsage reports a command line the command could not parse; the flag
// package has already said why.
var errUsage = errors.New("usage")

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) int {
	c := &cli{env: env, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		c.usage(stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	if name == "help" || name == "-h" || name == "--help" {
		if len(rest) == 0 {
			c.usage(stdout)
			return 0
		}
		for _, cmd := range commands() {
			if cmd.name == rest[0] {
				fmt.Fprintln(stdout, cmd.usage)
				return 0
			}
		}
		fmt.Fprintf(stderr, "rightsdesk: unknown command %q\n", rest[0])
		return 2
	}
	for _, cmd := range commands() {
		if cmd.name != name || cmd.run == nil {
			continue
		}
		if len(rest) == 1 && (rest[0] == "-h" || rest[0] == "--help" || rest[0] == "-help") {
			fmt.Fprintln(stdout, cmd.usage)
			return 0
		}
		// Commands parse their own flags; the ones without any take no arguments.
		c.command = cmd.name
		err := cmd.run(ctx, c, rest)
		switch {
		case errors.Is(err, errUsage):
			fmt.Fprintln(stderr, cmd.usage)
			return 2
		case err != nil:
			fmt.Fprintf(stderr, "rightsdesk %s: %v\n", name, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "rightsdesk: unknown command %q\n\n", name)
	c.usage(stderr)
	return 2
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintln(w, "rightsdesk — a portal for data-subject requests\n\nUsage: rightsdesk <command> [flags]\n\nCommands:")
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintln(w, "\nRun 'rightsdesk help <command>' for details.")
}

// setup loads the configuration and the logger every long-running command uses.
// Commands other than serve log warnings and errors only, unless LOG_LEVEL
// says otherwise: an operator's command prints its answer, not the database's
// start-up.
func (c *cli) setup() (config.Config, *slog.Logger, error) {
	cfg, err := config.Load(c.env)
	if err != nil {
		return cfg, nil, fmt.Errorf("configuration: %w", err)
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	if v, _ := c.env("LOG_LEVEL"); v == "" && c.command != "serve" {
		level = max(level, slog.LevelWarn)
	}
	return cfg, slog.New(slog.NewJSONHandler(c.stderr, &slog.HandlerOptions{Level: level})), nil
}

// noArgs refuses arguments to commands that take none.
func noArgs(args []string) error {
	if len(args) > 0 {
		return errUsage
	}
	return nil
}

func runServe(ctx context.Context, c *cli, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	cfg, logger, err := c.setup()
	if err != nil {
		return err
	}
	// The operators file is checked before anything starts.
	if _, err := operator.Load(c.env); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return Serve(ctx, cfg, logger)
}

func runMigrate(ctx context.Context, c *cli, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	cfg, logger, err := c.setup()
	if err != nil {
		return err
	}
	return Migrate(ctx, cfg, logger)
}

func runVersion(_ context.Context, c *cli, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	v := Version
	if info, ok := debug.ReadBuildInfo(); ok && v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	fmt.Fprintf(c.stdout, "rightsdesk %s (%s, %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
