package app

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/config"
)

const linksUsage = `rightsdesk links reissue [--before RFC3339] [--dry-run] [--operator SLUG]

reissue replaces the status links of every open, confirmed request that
still has a working link made before --before (default: now): each such
link stops working, and the request's own address is emailed a fresh one.

Run it once after upgrading from a version whose public intake answered
with status_url (before issue 11): a system that showed that link to
whoever filed a request, or anyone who filed in another person's name, may
still hold a working link. After reissuing, only the owner of the address
has one. Running it again with the same --before finds nothing to do.

The emails are recorded and queued here and delivered by a running serve.

--dry-run counts the requests it would reissue and changes nothing.

--operator names the operator of OPERATORS_FILE whose requests to reissue
the links of, with its BASE_URL and name in the emails; it is required when
the file names several, and no other operator's request is touched.

Uses DATABASE_URL, or the private PostgreSQL under RIGHTSDESK_DATA_DIR, and
applies pending migrations first, as serve does.`

func runLinks(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 || args[0] != "reissue" {
		return errUsage
	}
	fs := flag.NewFlagSet("links reissue", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {}
	at := fs.String("before", "", "links made before this instant, RFC 3339 (default: now)")
	dryRun := fs.Bool("dry-run", false, "count, change nothing")
	slug := fs.String("operator", "", operatorFlagHelp)
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	before := time.Now()
	if *at != "" {
		var err error
		if before, err = time.Parse(time.RFC3339, *at); err != nil {
			return fmt.Errorf("--before: want RFC 3339 such as 2026-12-03T09:00:00+05:00")
		}
	}
	return withOperator(ctx, c, *slug, func(cfg config.Config, logger *slog.Logger, pool *pgxpool.Pool, operatorID int64) error {
		a, err := buildOperator(cfg, pool, logger, Options{NoPeriodicJobs: true}, operatorID)
		if err != nil {
			return err
		}
		n, err := a.Reissuer.Reissue(ctx, before, *dryRun)
		verb := "reissued the status links of"
		if *dryRun {
			verb = "would reissue the status links of (dry run, nothing changed)"
		}
		fmt.Fprintf(c.stdout, "%s %d requests with links made before %s\n", verb, n, before.In(cfg.Location).Format(time.RFC3339))
		return err
	})
}
