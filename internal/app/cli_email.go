package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"rightsdesk/internal/config"
	"rightsdesk/internal/jobs"
	"rightsdesk/internal/operator"
	"rightsdesk/internal/store"
)

const emailUsage = `rightsdesk email status [--operator SLUG]
rightsdesk email pause
rightsdesk email resume

status says whether email delivery runs, and how many emails wait: queued
(never tried, or waiting for a retry) and failed (the last attempt failed),
with the age of the oldest. --operator names the operator of OPERATORS_FILE
whose emails to count; it is required when the file names several.

pause stops every instance from handing emails to the SMTP relay, at once
and until resume: for relay maintenance, or while a relay problem is
sorted out. Nothing is lost: requests are still taken, their emails
recorded and queued, and resume sends them (the pause is kept in the
database, so restarts and new instances honour it). Deliveries already
under way finish. The metric rightsdesk_queue_paused{queue="email"} is 1
meanwhile. Delivery is the deployment's: with several operators, pause and
resume hold and release every operator's emails, and say only whether
delivery runs (email status --operator SLUG counts each one's).

Uses DATABASE_URL, or the private PostgreSQL under RIGHTSDESK_DATA_DIR.`

func runEmail(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	if args[0] == "status" {
		fs := flag.NewFlagSet("email status", flag.ContinueOnError)
		fs.SetOutput(c.stderr)
		slug := fs.String("operator", "", operatorFlagHelp)
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
			return errUsage
		}
		return withOperatorOutbox(ctx, c, *slug, func(_ config.Config, st *store.Store, o *jobs.Outbox) error {
			return printEmailStatus(ctx, c, st, o)
		})
	}
	if len(args) != 1 {
		return errUsage
	}
	switch args[0] {
	case "pause":
		return withOutbox(ctx, c, func(_ config.Config, st *store.Store, o *jobs.Outbox) error {
			err := o.PauseDelivery(ctx)
			if errors.Is(err, river.ErrNotFound) {
				return errors.New("no instance has served the email queue yet: start serve once, then pause")
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(c.stderr, "email delivery paused on every instance; emails wait until: rightsdesk email resume")
			return printDeliveryStatus(ctx, c, st, o)
		})
	case "resume":
		return withOutbox(ctx, c, func(_ config.Config, st *store.Store, o *jobs.Outbox) error {
			err := o.ResumeDelivery(ctx)
			if err != nil && !errors.Is(err, river.ErrNotFound) { // never paused: nothing to resume
				return err
			}
			fmt.Fprintln(c.stderr, "email delivery resumed")
			return printDeliveryStatus(ctx, c, st, o)
		})
	}
	return errUsage
}

// printDeliveryStatus is printEmailStatus after a pause or a resume, which
// are the deployment's: with several operators it says whether delivery
// runs, as the emails waiting are each operator's to count.
func printDeliveryStatus(ctx context.Context, c *cli, st *store.Store, o *jobs.Outbox) error {
	set, err := operator.Load(c.env)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if set.Len() == 1 {
		return printEmailStatus(ctx, c, st, o)
	}
	paused, err := o.DeliveryPausedAt(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "delivery\t%s\n", deliveryState(paused))
	return nil
}

func deliveryState(paused time.Time) string {
	if paused.IsZero() {
		return "running"
	}
	return "paused since " + paused.UTC().Format(time.RFC3339)
}

func printEmailStatus(ctx context.Context, c *cli, st *store.Store, o *jobs.Outbox) error {
	paused, err := o.DeliveryPausedAt(ctx)
	if err != nil {
		return err
	}
	b, err := st.EmailBacklog(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "delivery\t%s\nqueued\t%d\nfailed\t%d\n", deliveryState(paused), b.Queued, b.Failed)
	if !b.Oldest.IsZero() {
		fmt.Fprintf(c.stdout, "oldest\t%s (%s ago)\n", b.Oldest.UTC().Format(time.RFC3339),
			time.Since(b.Oldest).Round(time.Second))
	}
	return nil
}
