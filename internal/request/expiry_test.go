package request

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestRequestsNeverConfirmedExpireWithTheirFiles(t *testing.T) {
	b := newIntakeBench(t, nil)
	for _, email := range []string{"a@example.kz", "b@example.kz", "c@example.kz"} {
		if _, err := b.intake.Submit(context.Background(), erasureBy(email), Russian); err != nil {
			t.Fatal(err)
		}
	}
	// The second confirms in time; the third is filed a day later.
	confirmer := &Confirmer{Repo: b.store, Deadlines: b.intake.Deadlines, Composer: textComposer{}, Clock: testClock{&b.now}, Links: b.intake.Links}
	if _, err := confirmer.Confirm(context.Background(), b.store.created[1].Emails[0].Secrets[SecretConfirm]); err != nil {
		t.Fatal(err)
	}
	b.store.confirmations[string(b.store.created[2].ConfirmTokenHash)].expiresAt = b.now.Add(96 * time.Hour)
	ex := &Expirer{Repo: b.store, Composer: textComposer{}, Clock: testClock{&b.now}, Links: b.intake.Links, OrgName: "Школа"}

	if n, err := ex.Sweep(context.Background()); n != 0 || err != nil {
		t.Errorf("before any link ran out: %d expired, %v", n, err)
	}
	b.now = b.now.Add(72*time.Hour + time.Minute)
	n, err := ex.Sweep(context.Background())
	if n != 1 || err != nil {
		t.Fatalf("%d expired, %v", n, err)
	}
	first := b.store.request(1)
	ch := b.store.last(t, first.ID)
	if first.Status != Expired || ch.Actor != ActorSystem || !ch.DeleteFiles || len(ch.Emails) != 1 ||
		ch.Emails[0].Kind != EmailExpired || ch.Emails[0].To != "a@example.kz" || !says(ch.Emails[0], "HomeURL", "https://rights.example.kz/") {
		t.Errorf("expired: %s, %+v", first.Status, ch)
	}
	if b.store.request(2).Status != New || b.store.request(3).Status != Unverified {
		t.Errorf("a confirmed or still valid request expired: %s, %s", b.store.request(2).Status, b.store.request(3).Status)
	}
	if n, _ := ex.Sweep(context.Background()); n != 0 {
		t.Errorf("a second sweep expired %d", n)
	}
}

func TestASweepExpiresMoreThanOneBatch(t *testing.T) {
	b := newIntakeBench(t, nil)
	for i := range 230 {
		if _, err := b.intake.Submit(context.Background(), erasureBy(strings.Repeat("a", i+1)+"@example.kz"), Russian); err != nil {
			t.Fatal(err)
		}
	}
	b.now = b.now.Add(73 * time.Hour)
	ex := &Expirer{Repo: b.store, Composer: textComposer{}, Clock: testClock{&b.now}, Links: b.intake.Links}
	if n, err := ex.Sweep(context.Background()); n != 230 || err != nil {
		t.Errorf("%d of 230 expired, %v", n, err)
	}
}
