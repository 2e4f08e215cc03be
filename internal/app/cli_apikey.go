package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/auth"
	"rightsdesk/internal/config"
	"rightsdesk/internal/jobs"
	"rightsdesk/internal/store"
)

const apikeyUsage = `rightsdesk apikey create --name N --role agent|auditor|admin [--operator SLUG]
rightsdesk apikey list [--operator SLUG]
rightsdesk apikey revoke [--operator SLUG] ID

create makes a key for the staff API and prints it once, alone on a line of
standard output: store it in your secret store then, as rightsdesk keeps only
its SHA-256 hash. The key acts with its role, exactly as a staff member of
that role would (auditor: read only). Send it as "Authorization: Bearer KEY".

list prints every key (never the key itself) with its state and last use.
revoke stops a key at once.

A key belongs to one operator and works on that operator's address only;
--operator names it, and is required when OPERATORS_FILE names several
(rightsdesk operator list). list and revoke see that operator's keys only.

All use DATABASE_URL, or the private PostgreSQL under RIGHTSDESK_DATA_DIR,
and apply pending migrations first, as serve does.`

// cliActor is the command line acting on API keys: it has the database
// anyway, so it acts with every right, and its events name the system.
var cliActor = auth.Staff{Role: auth.Admin}

func runAPIKey(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
		fs.SetOutput(c.stderr)
		name := fs.String("name", "", "what uses the key, e.g. \"CRM integration\"")
		role := fs.String("role", "", "agent, auditor or admin")
		slug := fs.String("operator", "", "the operator the key works for (OPERATORS_FILE)")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
			return errUsage
		}
		if *name == "" || *role == "" {
			fmt.Fprintln(c.stderr, "rightsdesk apikey create: --name and --role are required")
			return errUsage
		}
		if _, err := auth.ParseRole(*role); err != nil {
			return err
		}
		return withAPIKeys(ctx, c, *slug, func(keys *auth.APIKeys) error {
			k, secret, err := keys.Create(ctx, cliActor, *name, *role)
			var verr *auth.ValidationError
			if errors.As(err, &verr) {
				return fmt.Errorf("--%s: %v", verr.Field, verr.Err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "created %s key %q (id %d); it is shown only now:\n", k.Role, k.Name, k.ID)
			fmt.Fprintln(c.stdout, secret)
			return nil
		})
	case "list":
		fs := flag.NewFlagSet("apikey list", flag.ContinueOnError)
		fs.SetOutput(c.stderr)
		slug := fs.String("operator", "", "the operator whose keys to list (OPERATORS_FILE)")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
			return errUsage
		}
		return withAPIKeys(ctx, c, *slug, func(keys *auth.APIKeys) error {
			list, err := keys.List(ctx, cliActor)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tROLE\tBEGINS\tCREATED\tLAST USED\tSTATE")
			for _, k := range list {
				used, state := "never", "active"
				if !k.LastUsedAt.IsZero() {
					used = k.LastUsedAt.UTC().Format(time.RFC3339)
				}
				if !k.Active() {
					state = "revoked " + k.RevokedAt.UTC().Format(time.RFC3339)
				} else if why := k.Suspension(); why != "" {
					state = "suspended (" + strings.ReplaceAll(why, "_", " ") + ")"
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s…\t%s\t%s\t%s\n", k.ID, k.Name, k.Role, k.Prefix,
					k.CreatedAt.UTC().Format(time.RFC3339), used, state)
			}
			return w.Flush()
		})
	case "revoke":
		fs := flag.NewFlagSet("apikey revoke", flag.ContinueOnError)
		fs.SetOutput(c.stderr)
		slug := fs.String("operator", "", "the operator whose key it is (OPERATORS_FILE)")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 1 {
			return errUsage
		}
		id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("%q is not a key id (see rightsdesk apikey list)", fs.Arg(0))
		}
		return withAPIKeys(ctx, c, *slug, func(keys *auth.APIKeys) error {
			k, err := keys.Revoke(ctx, cliActor, id)
			switch {
			case errors.Is(err, store.ErrNotFound):
				return fmt.Errorf("no API key with id %d", id)
			case errors.Is(err, auth.ErrAPIKeyRevoked):
				return fmt.Errorf("API key %d was already revoked", id)
			case err != nil:
				return err
			}
			fmt.Fprintf(c.stdout, "revoked key %q (id %d)\n", k.Name, k.ID)
			return nil
		})
	}
	fmt.Fprintf(c.stderr, "rightsdesk apikey: unknown subcommand %q\n", args[0])
	return errUsage
}

// withAPIKeys opens the database as serve does, migrates it, and runs fn
// with the API key service.
func withAPIKeys(ctx context.Context, c *cli, slug string, fn func(*auth.APIKeys) error) error {
	return withStoreOf(ctx, c, slug, func(_ config.Config, st *store.Store) error {
		return fn(&auth.APIKeys{Repo: st, Clock: systemClock{}})
	})
}

// withStore opens the database as serve does (DATABASE_URL, or the private
// PostgreSQL, borrowed if serve runs), migrates it, and runs fn with the store.
func withStore(ctx context.Context, c *cli, fn func(config.Config, *store.Store) error) error {
	return withOutbox(ctx, c, func(cfg config.Config, st *store.Store, _ *jobs.Outbox) error { return fn(cfg, st) })
}

// withOutbox is withStore for commands that also work the job queues.
func withOutbox(ctx context.Context, c *cli, fn func(config.Config, *store.Store, *jobs.Outbox) error) error {
	return withDatabase(ctx, c, func(cfg config.Config, _ *slog.Logger, pool *pgxpool.Pool) error {
		outbox, err := jobs.NewOutbox(pool)
		if err != nil {
			return err
		}
		return fn(cfg, store.New(pool, outbox, cfg.Keys), outbox)
	})
}

// withDatabase loads the configuration, opens the database as serve does
// and migrates it, runs fn, and closes the database again.
func withDatabase(ctx context.Context, c *cli, fn func(config.Config, *slog.Logger, *pgxpool.Pool) error) error {
	cfg, logger, err := c.setup()
	if err != nil {
		return err
	}
	pool, stop, err := migrated(ctx, &cfg, logger)
	if err != nil {
		return err
	}
	defer stop()
	return fn(cfg, logger, pool)
}
