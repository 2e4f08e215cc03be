package app

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/config"
)

const remindersUsage = `rightsdesk reminders run [--now RFC3339] [--dry-run] [--operator SLUG]

run sends one sweep of deadline reminders now, or as if it were the instant
given by --now (e.g. 2026-03-20T09:00:00+05:00), and prints every reminder
sent: the recipient (the staff member's name, or "privacy contact"), the
request's reference and the threshold ("7d", "3d", "1d", or "overdue:" and
the day). Each staff member gets one digest of their requests that entered
a threshold (REMINDER_THRESHOLDS days before the due day, in TIMEZONE) or
are overdue; unassigned ones go to PRIVACY_CONTACT_EMAIL. A threshold is
sent once per request whatever runs the sweep, so running it by hand next to
serve never doubles a reminder; overdue requests are reminded once a day.

The emails are recorded and queued here and delivered by a running serve.

--dry-run prints what a sweep would send and records nothing.

--operator names the operator of OPERATORS_FILE whose requests to sweep,
with its thresholds, time zone and privacy contact; it is required when the
file names several, and no other operator's request is reminded.

Uses DATABASE_URL, or the private PostgreSQL under RIGHTSDESK_DATA_DIR, and
applies pending migrations first, as serve does.`

func runReminders(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 || args[0] != "run" {
		return errUsage
	}
	fs := flag.NewFlagSet("reminders run", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {}
	at := fs.String("now", "", "run as if it were this instant, RFC 3339 (default: now)")
	dryRun := fs.Bool("dry-run", false, "print what would be sent, record nothing")
	slug := fs.String("operator", "", operatorFlagHelp)
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	now := time.Now()
	if *at != "" {
		var err error
		if now, err = time.Parse(time.RFC3339, *at); err != nil {
			return fmt.Errorf("--now: want RFC 3339 such as 2026-03-20T09:00:00+05:00")
		}
	}
	return withOperator(ctx, c, *slug, func(cfg config.Config, logger *slog.Logger, pool *pgxpool.Pool, operatorID int64) error {
		a, err := buildOperator(cfg, pool, logger, Options{NoPeriodicJobs: true}, operatorID)
		if err != nil {
			return err
		}
		sent, err := a.Reminders.Run(ctx, now, *dryRun)
		n := 0
		w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "RECIPIENT\tREFERENCE\tTHRESHOLD")
		for _, d := range sent {
			for _, r := range d.Reminders {
				fmt.Fprintf(w, "%s\t%s\t%s\n", d.Recipient, r.Reference, r.Key)
				n++
			}
		}
		if ferr := w.Flush(); ferr != nil && err == nil {
			err = ferr
		}
		verb := "sent"
		if *dryRun {
			verb = "would send (dry run, nothing recorded)"
		}
		fmt.Fprintf(c.stdout, "%s %d reminders in %d digests at %s\n", verb, n, len(sent), now.In(cfg.Location).Format(time.RFC3339))
		return err
	})
}
