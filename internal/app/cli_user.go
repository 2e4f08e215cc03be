package app

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"rightsdesk/internal/auth"
	"rightsdesk/internal/config"
	"rightsdesk/internal/jobs"
	"rightsdesk/internal/operator"
	"rightsdesk/internal/store"
)

const userUsage = `rightsdesk user add --email E --name N --role admin|agent|auditor [--locale ru|kk|en] [--operator SLUG] [--platform]
rightsdesk user list
rightsdesk user join --operator SLUG --role admin|agent|auditor EMAIL
rightsdesk user leave --operator SLUG EMAIL
rightsdesk user platform grant|revoke EMAIL

add creates a staff account. The password is read from standard input:
typed without echo (twice) on a terminal, or the first line when piped, e.g.
  printf '%s\n' "$PASSWORD" | rightsdesk user add --email a@example.kz --name "Aida" --role admin
Passwords need at least 12 characters. --locale is the language of the
workspace and of emails to this person (default ru). --operator names the
operator of OPERATORS_FILE the account works for, in that role; it is
required when the file names several (rightsdesk operator list).

list prints every staff account with its role and state.

join makes an existing account a member of another operator of
OPERATORS_FILE, in that role there (or changes its role there); leave ends
that membership. A member of several operators switches between their
workspaces from the header, signed in.

platform grant gives an account the platform role: on any operator's
address it opens the Platform page, which lists every operator with counts
only (open, overdue, due within 7 days, received and closed in 30 days,
unsent emails) and never a request, a name or an email. It opens an
operator's requests only where the account is also a member of that
operator. revoke takes the role away and ends the account's sessions.
add --platform grants it at once.

Both use DATABASE_URL, or the private PostgreSQL under RIGHTSDESK_DATA_DIR,
and apply pending migrations first, as serve does.`

type stdinKey struct{}

// WithStdin hands a command its standard input (tests pass a reader); Main
// otherwise reads the process's own.
func WithStdin(ctx context.Context, r io.Reader) context.Context {
	return context.WithValue(ctx, stdinKey{}, r)
}

func stdinOf(ctx context.Context) io.Reader {
	if r, ok := ctx.Value(stdinKey{}).(io.Reader); ok {
		return r
	}
	return os.Stdin
}

func runUser(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "add":
		return runUserAdd(ctx, c, args[1:])
	case "list":
		if len(args) > 1 {
			return errUsage
		}
		return runUserList(ctx, c)
	case "join", "leave":
		return runUserMembership(ctx, c, args[0] == "join", args[1:])
	case "platform":
		if len(args) != 3 || (args[1] != "grant" && args[1] != "revoke") {
			return errUsage
		}
		return runUserPlatform(ctx, c, args[2], args[1] == "grant")
	}
	fmt.Fprintf(c.stderr, "rightsdesk user: unknown subcommand %q\n", args[0])
	return errUsage
}

func runUserAdd(ctx context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	email := fs.String("email", "", "email address (the sign-in name)")
	name := fs.String("name", "", "name shown to other staff")
	role := fs.String("role", "", "admin, agent or auditor")
	locale := fs.String("locale", "ru", "language: ru, kk or en")
	slug := fs.String("operator", "", "the operator the account works for (OPERATORS_FILE)")
	platform := fs.Bool("platform", false, "give the account the platform role (counts across every operator)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	if *email == "" || *name == "" || *role == "" {
		fmt.Fprintln(c.stderr, "rightsdesk user add: --email, --name and --role are required")
		return errUsage
	}
	if _, err := auth.ParseRole(*role); err != nil {
		return err
	}
	password, err := readPassword(stdinOf(ctx), c.stderr)
	if err != nil {
		return err
	}
	// Refuse a weak password before touching the database.
	if err := auth.CheckPassword(password); err != nil {
		return describeAccountError(err)
	}
	return withStoreOf(ctx, c, *slug, func(cfg config.Config, db *store.Store) error {
		return accounts(cfg, db, func(svc *auth.Service) error {
			st, err := svc.CreateWithPassword(ctx, auth.AccountInput{Email: *email, Name: *name, Role: *role, Locale: *locale, Password: password})
			if err != nil {
				return describeAccountError(err)
			}
			fmt.Fprintf(c.stdout, "created %s %s (id %d)\n", st.Role, st.Email, st.ID)
			if *platform {
				if _, err := db.SetPlatform(ctx, st.Email, true, time.Now()); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "granted the platform role to %s\n", st.Email)
			}
			return nil
		})
	})
}

// runUserMembership adds (join) or ends (leave) an existing account's
// membership of the operator --operator names.
func runUserMembership(ctx context.Context, c *cli, join bool, args []string) error {
	fs := flag.NewFlagSet("user membership", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	slug := fs.String("operator", "", "the operator (OPERATORS_FILE)")
	role := fs.String("role", "", "admin, agent or auditor (join)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 || *slug == "" || (join && *role == "") {
		return errUsage
	}
	email := fs.Arg(0)
	var r auth.Role
	if join {
		var err error
		if r, err = auth.ParseRole(*role); err != nil {
			return err
		}
	}
	return withStoreOf(ctx, c, *slug, func(_ config.Config, st *store.Store) error {
		var acct auth.Staff
		var err error
		if join {
			acct, err = st.Join(ctx, email, r, time.Now())
		} else {
			acct, err = st.Leave(ctx, email, time.Now())
		}
		if errors.Is(err, store.ErrNotFound) {
			if join {
				return fmt.Errorf("no staff account has the email %s", email)
			}
			return fmt.Errorf("%s is no member of %s", email, *slug)
		}
		if err != nil {
			return err
		}
		if join {
			fmt.Fprintf(c.stdout, "%s is a member of %s as %s\n", acct.Email, *slug, r)
		} else {
			fmt.Fprintf(c.stdout, "%s is no longer a member of %s\n", acct.Email, *slug)
		}
		return nil
	})
}

// runUserPlatform grants or revokes the platform role, the deployment's
// flag on an account (not any operator's membership).
func runUserPlatform(ctx context.Context, c *cli, email string, grant bool) error {
	return withStore(ctx, c, func(_ config.Config, st *store.Store) error {
		acct, err := st.SetPlatform(ctx, email, grant, time.Now())
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no staff account has the email %s", email)
		}
		if err != nil {
			return err
		}
		if grant {
			fmt.Fprintf(c.stdout, "granted the platform role to %s (id %d)\n", acct.Email, acct.ID)
		} else {
			fmt.Fprintf(c.stdout, "revoked the platform role of %s (id %d); its sessions are ended\n", acct.Email, acct.ID)
		}
		return nil
	})
}

func runUserList(ctx context.Context, c *cli) error {
	set, err := operator.Load(c.env)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return withStore(ctx, c, func(cfg config.Config, db *store.Store) error {
		// With several operators an account's role is the one it has in each
		// operator it is a member of: the list names them (slug and role).
		var slugOf map[int64]string
		if set.Len() > 1 {
			slugs := make([]string, 0, set.Len())
			for _, o := range set.All() {
				slugs = append(slugs, o.Slug)
			}
			ids, err := db.RecordOperators(ctx, slugs)
			if err != nil {
				return err
			}
			slugOf = make(map[int64]string, len(ids))
			for slug, id := range ids {
				slugOf[id] = slug
			}
		}
		return accounts(cfg, db, func(svc *auth.Service) error {
			// The command line acts with every right: it has the database anyway.
			list, err := svc.List(ctx, auth.Staff{Role: auth.Admin})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
			if slugOf == nil {
				fmt.Fprintln(w, "ID\tEMAIL\tNAME\tROLE\tSTATE\t2FA")
			} else {
				fmt.Fprintln(w, "ID\tEMAIL\tNAME\tMEMBER OF (ROLE)\tSTATE\t2FA")
			}
			for _, st := range list {
				state := "active"
				switch {
				case !st.Active():
					state = "disabled"
				case st.PasswordHash == "":
					state = "invited"
				}
				tfa := "off"
				if st.HasTOTP() {
					tfa = "on"
				}
				role := string(st.Role)
				if slugOf != nil {
					if role, err = membershipsOf(ctx, db, st.ID, slugOf); err != nil {
						return err
					}
					if st.Platform {
						role += "; platform"
					}
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", st.ID, st.Email, st.Name, role, state, tfa)
			}
			return w.Flush()
		})
	})
}

// membershipsOf is an account's memberships as `user list` prints them:
// "flextok (agent), webstapero (admin)", in operator order; "none" when it
// is a member of no operator (a platform account, or one that left).
func membershipsOf(ctx context.Context, db *store.Store, staffID int64, slugOf map[int64]string) (string, error) {
	ms, err := db.Memberships(ctx, staffID)
	if err != nil {
		return "", err
	}
	if len(ms) == 0 {
		return "none", nil
	}
	parts := make([]string, 0, len(ms))
	for _, m := range ms {
		slug, ok := slugOf[m.OperatorID]
		if !ok {
			slug = fmt.Sprintf("operator %d (not in OPERATORS_FILE)", m.OperatorID)
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", slug, m.Role))
	}
	return strings.Join(parts, ", "), nil
}

func accounts(cfg config.Config, st *store.Store, fn func(*auth.Service) error) error {
	svc, err := auth.NewService(st, nil, systemClock{}, auth.Config{OrgName: cfg.OrgName})
	if err != nil {
		return err
	}
	return fn(svc)
}

// withStoreOf is withOperatorOutbox for commands that need only the store:
// the operator's with several operators (--operator SLUG), so that what is
// read and written (memberships, API keys, their events) is that operator's.
func withStoreOf(ctx context.Context, c *cli, slug string, fn func(config.Config, *store.Store) error) error {
	return withOperatorOutbox(ctx, c, slug, func(cfg config.Config, st *store.Store, _ *jobs.Outbox) error {
		return fn(cfg, st)
	})
}

// readPassword reads the password without echo from a terminal (asking
// twice), or the first line of piped input.
func readPassword(r io.Reader, prompt io.Writer) (string, error) {
	if f, ok := r.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "Password: ")
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(prompt, "Repeat password: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(first) != string(second) {
			return "", errors.New("the passwords do not match")
		}
		return string(first), nil
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		return "", errors.New("no password on standard input (pipe it in, one line)")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// describeAccountError says in plain words what the command line refused.
func describeAccountError(err error) error {
	switch {
	case errors.Is(err, auth.ErrPasswordTooShort):
		return fmt.Errorf("password too short: use at least %d characters", auth.MinPasswordLen)
	case errors.Is(err, auth.ErrPasswordTooLong):
		return fmt.Errorf("password too long: at most %d bytes", auth.MaxPasswordLen)
	case errors.Is(err, auth.ErrPasswordBlank):
		return errors.New("password is only spaces")
	case errors.Is(err, auth.ErrEmailTaken):
		return errors.New("a staff member with this email already exists")
	}
	var verr *auth.ValidationError
	if errors.As(err, &verr) {
		return fmt.Errorf("--%s: %v", verr.Field, verr.Err)
	}
	return err
}
