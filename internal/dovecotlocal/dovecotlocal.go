// Package dovecotlocal runs a private Dovecot IMAP server from the
// machine's Dovecot binaries (Debian's dovecot-core and dovecot-imapd), for
// tests: a generated configuration in a temporary folder (its own
// base_dir, a passwd-file per user, Maildir storage), listening on two
// loopback ports, plain IMAP with plaintext login allowed and IMAPS with a
// self-signed certificate. When started as root it runs, master and
// services alike, as an unprivileged user (dovecot, else nobody). Stop ends
// it and removes the folder.
package dovecotlocal

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"rightsdesk/internal/launch"
)

const (
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
	stopGrace    = 500 * time.Millisecond
)

// Options configure Start. The zero value is a server with Dovecot's own
// capabilities.
type Options struct {
	// Capabilities, when set, replace the capabilities Dovecot announces
	// after login (imap_capability), e.g. to leave MOVE out and test a
	// client's fallback. Dovecot still understands every command.
	Capabilities string
	// NamespacePrefix, when set, puts every folder under it, as Courier
	// and cPanel hosts do ("INBOX." with the separator "."); default none,
	// separator "/".
	NamespacePrefix string
	// Logger receives the launcher's own logs; nil discards them.
	Logger *slog.Logger
}

// Server is a running private Dovecot.
type Server struct {
	dir      string
	addr     string // plain IMAP
	tlsAddr  string // IMAPS
	certPEM  []byte
	acc      *launch.Account
	proc     *launch.Process // nil until dovecot runs
	logger   *slog.Logger
	stopOnce sync.Once
	stopErr  error
}

// FindBinary returns the dovecot master binary, from PATH or /usr/sbin,
// and checks that the IMAP service is installed beside it.
func FindBinary() (string, error) {
	bin := launch.FindProgram([]string{"dovecot"}, "/usr/sbin")
	if bin == "" {
		return "", errors.New("dovecotlocal: dovecot not found in PATH or /usr/sbin: install the Debian package dovecot-imapd")
	}
	for _, d := range []string{"/usr/lib/dovecot", "/usr/libexec/dovecot", filepath.Join(filepath.Dir(filepath.Dir(bin)), "lib", "dovecot")} {
		if _, err := os.Stat(filepath.Join(d, "imap")); err == nil {
			return bin, nil
		}
	}
	return "", errors.New("dovecotlocal: dovecot is installed without its IMAP service: install the Debian package dovecot-imapd")
}

// Start starts a server in a new temporary folder and waits until both
// listeners answer. ctx bounds the start only (at most 30 s): call Stop.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := FindBinary()
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(opts.Capabilities+opts.NamespacePrefix, "\n\r\"{}") {
		return nil, errors.New("dovecotlocal: Capabilities must be one line of words")
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	// As root, master and services alike run as Dovecot's own dovecot user
	// (created by dovecot-core), else nobody.
	acc, err := launch.Unprivileged("dovecot")
	if err != nil {
		return nil, fmt.Errorf("dovecotlocal: %w", err)
	}
	dir, err := launch.TempDir("rdimap-")
	if err != nil {
		return nil, fmt.Errorf("dovecotlocal: %w", err)
	}
	s := &Server{dir: dir, acc: acc, logger: opts.Logger}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if err := s.start(ctx, bin, opts); err != nil {
		_ = s.Stop(context.WithoutCancel(ctx))
		return nil, err
	}
	s.logger.Info("dovecot started", "component", "dovecotlocal", "imap", s.addr, "imaps", s.tlsAddr)
	return s, nil
}

func (s *Server) start(ctx context.Context, bin string, opts Options) error {
	for _, sub := range []string{"run", "state", "home", "users"} {
		if err := os.Mkdir(filepath.Join(s.dir, sub), 0o700); err != nil {
			return fmt.Errorf("dovecotlocal: %w", err)
		}
	}
	certPEM, keyPEM, err := launch.LoopbackCertificate("rightsdesk test IMAP")
	if err != nil {
		return fmt.Errorf("dovecotlocal: %w", err)
	}
	s.certPEM = certPEM
	if err := os.WriteFile(filepath.Join(s.dir, "cert.pem"), certPEM, 0o600); err != nil {
		return fmt.Errorf("dovecotlocal: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "key.pem"), keyPEM, 0o600); err != nil {
		return fmt.Errorf("dovecotlocal: %w", err)
	}
	imapPort, err := launch.FreePort()
	if err != nil {
		return fmt.Errorf("dovecotlocal: %w", err)
	}
	imapsPort, err := launch.FreePort()
	if err != nil {
		return fmt.Errorf("dovecotlocal: %w", err)
	}
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(imapPort))
	s.tlsAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(imapsPort))
	conf := s.config(imapPort, imapsPort, opts)
	confPath := filepath.Join(s.dir, "dovecot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return fmt.Errorf("dovecotlocal: %w", err)
	}
	// Only what start wrote is in the folder yet.
	if err := s.acc.ChownTree(s.dir); err != nil {
		return fmt.Errorf("dovecotlocal: %w", err)
	}

	logFile, err := os.OpenFile(filepath.Join(s.dir, "stderr.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("dovecotlocal: %w", err)
	}
	defer logFile.Close()                          // the child has its own descriptor
	cmd := exec.Command(bin, "-F", "-c", confPath) // #nosec G204 -- the machine's dovecot binary with our generated configuration
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	// SIGTERM if we die: the server never outlives a killed test run.
	proc, err := launch.Start(cmd, launch.Options{Account: s.acc, DeathSignal: syscall.SIGTERM})
	if err != nil {
		return fmt.Errorf("dovecotlocal: %w", err)
	}
	s.proc = proc
	for _, addr := range []string{s.addr, s.tlsAddr} {
		probe := func(ctx context.Context) error {
			conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return err
			}
			return conn.Close() // only probing
		}
		if err := proc.WaitReady(ctx, 50*time.Millisecond, probe); err != nil {
			return fmt.Errorf("dovecotlocal: %s: %w: %s", addr, err, s.logTail())
		}
	}
	return nil
}

// config is the whole configuration: nothing is read from /etc/dovecot.
func (s *Server) config(imapPort, imapsPort int, opts Options) string {
	d := s.dir
	name := s.acc.Name()
	uid, gid := s.acc.IDs()
	var b strings.Builder
	fmt.Fprintf(&b, `# Generated by rightsdesk's dovecotlocal for one test run.
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
protocols = imap
listen = 127.0.0.1
shutdown_clients = yes
default_internal_user = %[2]s
default_internal_group = %[2]s
default_login_user = %[2]s
first_valid_uid = %[3]d
last_valid_uid = 0
first_valid_gid = %[4]d
disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests of a wrong password need not wait. (Dovecot's anvil still slows
# every login from an address with recent failures: a test that logs in
# wrongly uses a server of its own.)
auth_failure_delay = 0
ssl = yes
ssl_cert = <%[1]s/cert.pem
ssl_key = <%[1]s/key.pem
ssl_min_protocol = TLSv1.2
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/users/%%u
}
userdb {
  driver = static
  args = uid=%[3]d gid=%[4]d home=%[1]s/home/%%u
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = %[5]d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[6]d
    ssl = yes
  }
}
service anvil {
  chroot =
}
service auth {
  user = %[2]s
}
service auth-worker {
  user = %[2]s
}
`, d, name, uid, gid, imapPort, imapsPort)
	if _, err := os.Stat("/usr/share/dovecot/dh.pem"); err == nil {
		b.WriteString("ssl_dh = </usr/share/dovecot/dh.pem\n")
	}
	if opts.Capabilities != "" {
		fmt.Fprintf(&b, "imap_capability = %s\n", opts.Capabilities)
	}
	if opts.NamespacePrefix != "" {
		fmt.Fprintf(&b, "namespace inbox {\n  inbox = yes\n  prefix = %s\n  separator = %s\n}\n", opts.NamespacePrefix, opts.NamespacePrefix[len(opts.NamespacePrefix)-1:])
	} else {
		b.WriteString("namespace inbox {\n  inbox = yes\n  separator = /\n}\n")
	}
	return b.String()
}

func (s *Server) logTail() string {
	var out []string
	for _, f := range []string{"stderr.log", "dovecot.log"} {
		if tail := launch.LogTail(filepath.Join(s.dir, f), 0, 10); tail != "" {
			out = append(out, strings.Split(tail, "\n")...)
		}
	}
	return strings.Join(out, " | ")
}

// Addr is the plain IMAP listener (plaintext login allowed), host:port.
func (s *Server) Addr() string { return s.addr }

// TLSAddr is the IMAPS listener, host:port, with CertPEM's certificate.
func (s *Server) TLSAddr() string { return s.tlsAddr }

// CertPEM is the self-signed certificate of the IMAPS listener (for
// 127.0.0.1 and localhost), to trust in a client.
func (s *Server) CertPEM() []byte { return s.certPEM }

// UsersDir is the folder of the passwd-files: one file per user, named
// for the user (AddUserIn writes one from another process).
func (s *Server) UsersDir() string { return filepath.Join(s.dir, "users") }

// AddUser creates a user with an empty mailbox.
func (s *Server) AddUser(name, password string) error { return AddUserIn(s.UsersDir(), name, password) }

var userNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// AddUserIn writes the passwd-file of a new user into a server's users
// folder: each user has a file of its own, so users added by test processes
// at the same time never race. The user's mailbox is created on first
// login.
func AddUserIn(usersDir, name, password string) error {
	if !userNameRe.MatchString(name) || strings.ContainsAny(password, ":\n\r") || password == "" {
		return fmt.Errorf("dovecotlocal: user %q: a lower-case name and a password without colons or line breaks", name)
	}
	path := filepath.Join(usersDir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644) // #nosec G302 G304 -- read by Dovecot's unprivileged auth process; a test password in a private folder
	if err != nil {
		return fmt.Errorf("dovecotlocal: add user %s: %w", name, err)
	}
	_, werr := fmt.Fprintf(f, "%s:{PLAIN}%s\n", name, password)
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("dovecotlocal: add user %s: %w", name, err)
	}
	return nil
}

// Stop stops the server and removes its folder. It is safe to call twice.
// Dovecot's master waits up to several seconds for its services after
// SIGTERM; a test server has nothing to save, so after a short grace the
// whole process group is killed.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		if s.proc != nil {
			_, err := s.proc.Stop(ctx,
				launch.Step{Signal: syscall.SIGTERM, Wait: stopGrace},
				launch.Step{Signal: syscall.SIGKILL, Group: true, Wait: stopTimeout})
			// The services left, if any, even when the master is gone.
			if err := errors.Join(err, s.proc.KillGroup()); err != nil {
				s.stopErr = fmt.Errorf("dovecotlocal: %w", err)
			}
		}
		if err := os.RemoveAll(s.dir); err != nil && s.stopErr == nil {
			s.stopErr = fmt.Errorf("dovecotlocal: remove %s: %w", s.dir, err)
		}
	})
	return s.stopErr
}

// ClientTLS is a client configuration that trusts certPEM.
func ClientTLS(certPEM []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		return nil, errors.New("dovecotlocal: no certificate in the PEM")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// The variables Env exports to a test run, read by internal/testkit.
const (
	EnvAddr     = "RIGHTSDESK_TEST_IMAP_ADDR"      // plain IMAP, host:port
	EnvTLSAddr  = "RIGHTSDESK_TEST_IMAPS_ADDR"     // IMAPS, host:port
	EnvCertFile = "RIGHTSDESK_TEST_IMAP_CERT_FILE" // the IMAPS certificate, PEM
	EnvUsersDir = "RIGHTSDESK_TEST_IMAP_USERS_DIR" // where AddUserIn writes users
)

// Env describes the server to the processes of a test run, as NAME=value.
func (s *Server) Env() []string {
	return []string{
		EnvAddr + "=" + s.addr,
		EnvTLSAddr + "=" + s.tlsAddr,
		EnvCertFile + "=" + filepath.Join(s.dir, "cert.pem"),
		EnvUsersDir + "=" + s.UsersDir(),
	}
}
