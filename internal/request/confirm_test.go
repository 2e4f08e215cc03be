package request

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/deadline"
)

// confirmBench files one request through the intake, with verification on,
// and keeps the confirmation link the acknowledgement carries.
type confirmBench struct {
	*intakeBench
	confirmer *Confirmer
	link      string
	statusOld string
	ref       string
}

func newConfirmBench(t *testing.T, policy *deadline.Policy) *confirmBench {
	t.Helper()
	ib := newIntakeBench(t, nil)
	ib.intake.Deadlines = policy
	receipt, err := ib.intake.Submit(context.Background(), erasureBy("aigerim@example.kz"), Russian)
	if err != nil {
		t.Fatal(err)
	}
	ack := ib.store.created[0].Emails[0]
	return &confirmBench{
		intakeBench: ib, link: ack.Secrets[SecretConfirm], statusOld: ack.Secrets[SecretStatus], ref: receipt.Reference,
		confirmer: &Confirmer{Repo: ib.store, Deadlines: policy, Composer: textComposer{}, Clock: testClock{&ib.now},
			Links: ib.intake.Links, OrgName: "Школа"},
	}
}

func TestConfirmingTheAddressOpensTheRequestAndOnlyTheNewLinkWorks(t *testing.T) {
	b := newConfirmBench(t, testPolicy(t, "default"))
	b.now = b.now.Add(time.Hour)
	peeked, err := b.confirmer.Peek(context.Background(), b.link)
	if err != nil || peeked.Status != Unverified || len(b.store.changes) != 0 {
		t.Fatalf("peek: %s, %v; %d changes", peeked.Status, err, len(b.store.changes))
	}
	r, err := b.confirmer.Confirm(context.Background(), b.link)
	if err != nil || r.Status != New || !r.ConfirmedAt.Equal(b.now) {
		t.Fatalf("confirm: %+v, %v", r, err)
	}
	ch := b.store.last(t, r.ID)
	if ch.Event != "confirmed" || ch.Actor != ActorRequester || !ch.RevokeStatusLinks || ch.AddStatusLink == nil ||
		len(ch.Emails) != 1 || ch.Emails[0].Kind != EmailConfirmed || ch.Emails[0].To != "aigerim@example.kz" ||
		ch.Emails[0].Secrets[SecretStatus] == "" || ch.Emails[0].Secrets[SecretStatus] == b.statusOld {
		t.Errorf("confirmed: %+v", ch)
	}
	// The link from the acknowledgement no longer opens the status page.
	if _, err := b.store.find(RequestKey{StatusTokenHash: HashToken(b.statusOld)}); !errors.Is(err, ErrNotFound) {
		t.Error("the acknowledgement's status link still works after confirming")
	}
	if _, err := b.store.find(RequestKey{StatusTokenHash: HashToken(ch.Emails[0].Secrets[SecretStatus])}); err != nil {
		t.Error("the confirmation email's status link does not work")
	}
	for _, try := range []func() error{
		func() error { _, err := b.confirmer.Confirm(context.Background(), b.link); return err },
		func() error { _, err := b.confirmer.Peek(context.Background(), b.link); return err },
	} {
		if err := try(); !errors.Is(err, ErrAlreadyConfirmed) {
			t.Errorf("a used link: %v", err)
		}
	}
	if n := len(b.store.changesOf(r.ID)); n != 1 {
		t.Errorf("%d changes after using the link twice", n)
	}
}

func TestAConfirmationLinkPastItsTimeOrUnknownChangesNothing(t *testing.T) {
	b := newConfirmBench(t, testPolicy(t, "default"))
	b.now = b.now.Add(72*time.Hour + time.Second)
	if _, err := b.confirmer.Confirm(context.Background(), b.link); !errors.Is(err, ErrLinkExpired) {
		t.Errorf("an expired link: %v", err)
	}
	for _, token := range []string{"", "short", strings.Repeat("A", 43)} {
		if _, err := b.confirmer.Confirm(context.Background(), token); !errors.Is(err, ErrNotFound) {
			t.Errorf("link %q: %v", token, err)
		}
	}
	if len(b.store.changes) != 0 {
		t.Errorf("%d changes", len(b.store.changes))
	}
}

func TestAClockThatStartsAtConfirmationDatesTheRequestThen(t *testing.T) {
	policy := testPolicy(t, "default", deadline.WithRule("erasure", deadline.Rule{
		Period: deadline.Period{Value: 10, Unit: deadline.CalendarDays}, Start: deadline.StartConfirmation,
	}))
	b := newConfirmBench(t, policy)
	filed := b.store.created[0].Request
	// Until confirmed, the request shows the earliest date it can have.
	if want := time.Date(2026, 3, 12, 23, 59, 59, 0, almaty(t)); !filed.DueAt.Equal(want) {
		t.Errorf("due before confirming: %v, want %v", filed.DueAt, want)
	}
	b.now = b.now.Add(48 * time.Hour)
	r, err := b.confirmer.Confirm(context.Background(), b.link)
	if want := time.Date(2026, 3, 14, 23, 59, 59, 0, almaty(t)); err != nil || !r.DueAt.Equal(want) {
		t.Errorf("due after confirming two days later: %v (%v), want %v", r.DueAt, err, want)
	}
	if ch := b.store.last(t, r.ID); !says(ch.Emails[0], "DueAt", r.DueAt) || ch.Data["rule"] == nil {
		t.Errorf("the confirmation does not give the new date: %+v", ch)
	}
}
