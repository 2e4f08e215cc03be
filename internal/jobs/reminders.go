package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"rightsdesk/internal/mail"
	"rightsdesk/internal/reminder"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

// EmailReminderDigest is the kind of the deadline reminder digest.
const EmailReminderDigest = "reminder_digest"

// PrivacyContactName names the privacy contact in what a sweep reports.
const PrivacyContactName = "privacy contact"

// ReminderStore is what the reminder sweep needs from the database.
type ReminderStore interface {
	ReminderCandidates(ctx context.Context, horizon time.Time) ([]store.ReminderCandidate, error)
	RecordReminders(ctx context.Context, at time.Time, d store.ReminderDigest,
		compose func(won []store.ReminderClaim) (request.OutboxEmail, error)) ([]store.ReminderClaim, error)
}

// ReminderSweep sends deadline reminders: each active member of staff gets
// one digest of their open requests that entered a threshold or are
// overdue, and the privacy contact gets one of the unassigned ones. What is
// owed is reminder.Policy's decision; that it is sent once is the ledger's
// (store.RecordReminders), so sweeps may run at the same time anywhere.
type ReminderSweep struct {
	Store          ReminderStore
	Composer       request.Composer
	Policy         reminder.Policy
	Links          request.Links
	PrivacyContact string // empty: unassigned requests are not reminded
	StaffLocale    request.Locale
	OrgName        string
	Logger         *slog.Logger
	Random         io.Reader // for Message-IDs; nil = crypto/rand
	// Parallel is how many digests are recorded at once, each on its own
	// connection; 0 is DefaultReminderParallel.
	Parallel int
	// Steps names the systems whose data map step is stuck (failed, or
	// waiting for the operator's system), for the digest to say so; nil
	// without a data map.
	Steps StuckSteps
}

// DefaultReminderParallel is how many digests a sweep records at once
// unless told: two keep a database's second core (or its disk, at commit)
// busy while one digest renders, and leave the rest of a pool of four
// (pgxpool's default) to everything else.
const DefaultReminderParallel = 2

// StuckSteps names, per request, the systems whose step is stuck
// (store.Fulfilments).
type StuckSteps interface {
	StuckSteps(ctx context.Context, requestIDs []int64) (map[int64][]string, error)
}

// SentDigest is one digest a sweep sent (or, in a dry run, would send).
type SentDigest struct {
	StaffID   int64  // 0: the privacy contact
	Recipient string // the staff member's name, or PrivacyContactName
	To        string
	Reminders []SentReminder
}

// SentReminder is one line of a digest.
type SentReminder struct {
	Reference string
	Key       string // the ledger key: "3d", "overdue:2026-03-05"
}

type pending struct {
	cand store.ReminderCandidate
	rem  reminder.Reminder
}

// Run runs one sweep at now. With dryRun it records and sends nothing and
// reports what it would send. A failure for one recipient does not stop the
// others; the error names how many failed, and the next run retries them.
func (s *ReminderSweep) Run(ctx context.Context, now time.Time, dryRun bool) ([]SentDigest, error) {
	cands, err := s.Store.ReminderCandidates(ctx, s.Policy.Horizon(now))
	if err != nil {
		return nil, err
	}
	groups := map[int64][]pending{}
	skipped := 0
	for _, c := range cands {
		r, ok := s.Policy.Due(c.DueAt, now, func(k string) bool { return reminder.Covers(c.Reminded, k) })
		if !ok {
			continue
		}
		if c.StaffID == 0 && s.PrivacyContact == "" {
			skipped++
			continue
		}
		groups[c.StaffID] = append(groups[c.StaffID], pending{c, r})
	}
	if skipped > 0 && s.Logger != nil {
		s.Logger.WarnContext(ctx, "reminders of unassigned requests not sent: PRIVACY_CONTACT_EMAIL is not set", "requests", skipped)
	}
	stuck, err := s.stuckSteps(ctx, groups)
	if err != nil {
		return nil, err
	}
	recipients := make([]int64, 0, len(groups))
	for id := range groups {
		recipients = append(recipients, id)
	}
	slices.Sort(recipients) // the privacy contact (0) first, then staff by id

	if dryRun {
		var out []SentDigest
		for _, staffID := range recipients {
			sent := s.addressed(staffID, groups[staffID])
			for _, p := range groups[staffID] {
				sent.Reminders = append(sent.Reminders, SentReminder{p.cand.Reference, p.rem.Key})
			}
			out = append(out, sent)
		}
		return out, nil
	}

	// Digests are recorded Parallel at a time, each in its own transaction:
	// no two share a request, so they never wait for each other, and one
	// digest's rendering and commit overlap another's writes.
	results := make([]SentDigest, len(recipients))
	failed := make([]error, len(recipients))
	slots := make(chan struct{}, s.parallel())
	var wg sync.WaitGroup
	for i, staffID := range recipients {
		// Drawn here, one at a time and in the recipients' order: Random
		// need not be safe for concurrent use.
		id, err := request.NewToken(s.Random)
		if err != nil {
			failed[i] = err
			continue
		}
		messageID := id.Plain[:26] + "@" + s.Links.Host()
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			results[i], failed[i] = s.send(ctx, now, staffID, groups[staffID], stuck, messageID)
		})
	}
	wg.Wait()
	var out []SentDigest
	var errs []error
	for i := range recipients {
		switch {
		case failed[i] != nil:
			errs = append(errs, failed[i])
		case len(results[i].Reminders) > 0: // none: another sweep got there first
			out = append(out, results[i])
		}
	}
	if s.Logger != nil {
		n := 0
		for _, d := range out {
			n += len(d.Reminders)
		}
		s.Logger.InfoContext(ctx, "reminder sweep", "digests", len(out), "reminders", n, "failed_digests", len(errs))
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("%d of %d reminder digests failed: %w", len(errs), len(recipients), errors.Join(errs...))
	}
	return out, nil
}

// parallel is how many digests a sweep records at once.
func (s *ReminderSweep) parallel() int {
	if s.Parallel > 0 {
		return s.Parallel
	}
	return DefaultReminderParallel
}

// addressed is the digest of staffID's items, with no reminders yet.
func (s *ReminderSweep) addressed(staffID int64, items []pending) SentDigest {
	sent := SentDigest{StaffID: staffID, Recipient: PrivacyContactName, To: s.PrivacyContact}
	if staffID != 0 {
		sent.Recipient, sent.To = items[0].cand.StaffName, items[0].cand.StaffEmail
	}
	return sent
}

// send claims and records one recipient's digest; its Reminders are those
// the claim won (none when another sweep sent them).
func (s *ReminderSweep) send(ctx context.Context, now time.Time, staffID int64, items []pending,
	stuck map[int64][]string, messageID string) (SentDigest, error) {
	sent := s.addressed(staffID, items)
	byID := make(map[int64]pending, len(items))
	digest := store.ReminderDigest{StaffID: staffID}
	for _, p := range items {
		byID[p.cand.RequestID] = p
		digest.Claims = append(digest.Claims, store.ReminderClaim{RequestID: p.cand.RequestID, Key: p.rem.Key})
	}
	won, err := s.Store.RecordReminders(ctx, now, digest, func(won []store.ReminderClaim) (request.OutboxEmail, error) {
		lines := make([]pending, len(won))
		for i, c := range won {
			lines[i] = byID[c.RequestID]
		}
		return s.compose(sent, lines, stuck, messageID)
	})
	if err != nil {
		return sent, err
	}
	for _, c := range won {
		sent.Reminders = append(sent.Reminders, SentReminder{byID[c.RequestID].cand.Reference, c.Key})
	}
	return sent, nil
}

// compose renders one recipient's digest, most urgent first, in their
// language (the privacy contact's is STAFF_LOCALE).
func (s *ReminderSweep) compose(d SentDigest, items []pending, stuck map[int64][]string, messageID string) (request.OutboxEmail, error) {
	locale := s.StaffLocale
	if d.StaffID != 0 {
		locale = items[0].cand.StaffLocale
	}
	if !locale.Valid() {
		locale = request.Russian
	}
	slices.SortStableFunc(items, func(a, b pending) int {
		return cmp.Or(a.cand.DueAt.Compare(b.cand.DueAt), cmp.Compare(a.cand.Reference, b.cand.Reference))
	})
	lines := make([]mail.DigestLine, len(items))
	for i, p := range items {
		lines[i] = mail.DigestLine{
			Reference: p.cand.Reference, Type: string(p.cand.Type),
			Due:      p.rem.DueDate.EndOfDay(s.Policy.Location),
			DaysLeft: p.rem.DaysLeft, DaysOverdue: p.rem.DaysOverdue(), Overdue: p.rem.Overdue(),
			URL: s.Links.Staff(p.cand.Reference), Stuck: strings.Join(stuck[p.cand.RequestID], ", "),
		}
	}
	subject, text, html, err := s.Composer.Compose(EmailReminderDigest, locale, map[string]any{
		"Org": s.OrgName, "Items": lines, "Count": len(lines), "Unassigned": d.StaffID == 0,
		"QueueURL": s.Links.BaseURL + "/staff",
	})
	if err != nil {
		return request.OutboxEmail{}, fmt.Errorf("compose reminder digest: %w", err)
	}
	return request.OutboxEmail{
		Kind: EmailReminderDigest, To: d.To, Locale: locale, Subject: subject, Text: text, HTML: html,
		MessageID: messageID,
	}, nil
}

// SendRemindersArgs is the periodic reminder sweep.
type SendRemindersArgs struct{}

// Kind implements river.JobArgs.
func (SendRemindersArgs) Kind() string { return "send_reminders" }

// SendRemindersWorker runs the reminder sweep. River runs periodic jobs on
// the elected leader only; the ledger makes a sweep that still overlaps
// another (a leader change, `rightsdesk reminders run`) harmless.
type SendRemindersWorker struct {
	river.WorkerDefaults[SendRemindersArgs]
	Sweep *ReminderSweep
	Now   func() time.Time
}

// Work implements river.Worker.
func (w *SendRemindersWorker) Work(ctx context.Context, _ *river.Job[SendRemindersArgs]) error {
	_, err := w.Sweep.Run(ctx, w.Now(), false)
	return err
}

// Timeout gives a large sweep more than the default job time; each digest
// commits on its own, so a sweep cut short keeps what it sent.
func (w *SendRemindersWorker) Timeout(*river.Job[SendRemindersArgs]) time.Duration {
	return 15 * time.Minute
}

// SendRemindersEvery schedules the sweep, and runs it when an instance
// becomes the leader.
func SendRemindersEvery(interval time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return SendRemindersArgs{}, nil },
		&river.PeriodicJobOpts{ID: "send_reminders", RunOnStart: true})
}

// stuckSteps looks up the stuck steps of every request a digest names.
func (s *ReminderSweep) stuckSteps(ctx context.Context, groups map[int64][]pending) (map[int64][]string, error) {
	if s.Steps == nil {
		return nil, nil
	}
	var ids []int64
	for _, items := range groups {
		for _, p := range items {
			ids = append(ids, p.cand.RequestID)
		}
	}
	return s.Steps.StuckSteps(ctx, ids)
}
