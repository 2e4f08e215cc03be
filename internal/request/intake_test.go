package request

import (
	"context"
	"errors"
	"testing"
	"time"
)

// intakeBench is the intake over memStore.
type intakeBench struct {
	t      *testing.T
	store  *memStore
	intake *Intake
	now    time.Time
}

func newIntakeBench(t *testing.T, configure func(*IntakeConfig)) *intakeBench {
	t.Helper()
	b := &intakeBench{t: t, store: newMemStore()}
	loc := almaty(t)
	b.now = time.Date(2026, 3, 2, 10, 0, 0, 0, loc)
	cfg := IntakeConfig{VerifyEmail: true, ConfirmFor: 72 * time.Hour, PrivacyContact: "privacy@example.kz",
		StaffLocale: Russian, OrgName: "Школа", Location: loc}
	if configure != nil {
		configure(&cfg)
	}
	b.intake = &Intake{Validator: NewValidator(AllTypes()), Repo: b.store, Composer: textComposer{}, Deadlines: testPolicy(t, "default"),
		Clock: testClock{&b.now}, Links: Links{BaseURL: "https://rights.example.kz"}, Config: cfg}
	return b
}

func erasureBy(email string) Submission {
	return Submission{Type: Erasure, FullName: " Айгерим Нурланқызы ", Email: email, Locale: Kazakh, Consent: true, Details: "Удалите аккаунт"}
}

func TestASubmissionIsStoredWithItsDeadlineAndEmails(t *testing.T) {
	for _, verify := range []bool{true, false} {
		b := newIntakeBench(t, func(c *IntakeConfig) { c.VerifyEmail = verify })
		got, err := b.intake.Submit(context.Background(), erasureBy("aigerim@example.kz"), Russian)
		if err != nil {
			t.Fatalf("verify %v: %v", verify, err)
		}
		if len(b.store.created) != 1 {
			t.Fatalf("verify %v: %d stored", verify, len(b.store.created))
		}
		nr := b.store.created[0]
		r := nr.Request
		wantStatus := New
		if verify {
			wantStatus = Unverified
		}
		// 30 calendar days from receipt, to the end of that day in Almaty.
		wantDue := time.Date(2026, 4, 1, 23, 59, 59, 0, almaty(t))
		if got.Status != wantStatus || r.Status != wantStatus || got.Reference != r.Reference || got.StatusURL != "" ||
			!got.DueAt.Equal(wantDue) || !r.DueAt.Equal(wantDue) || !got.ReceivedAt.Equal(b.now) {
			t.Errorf("verify %v: receipt %+v", verify, got)
		}
		if r.FullName != "Айгерим Нурланқызы" || r.Locale != Kazakh || r.Rule == "" || (!verify && !r.ConfirmedAt.Equal(b.now)) || (verify && !r.ConfirmedAt.IsZero()) {
			t.Errorf("verify %v: stored %+v", verify, r)
		}
		if len(nr.Emails) != 2 {
			t.Fatalf("verify %v: %d emails", verify, len(nr.Emails))
		}
		ack, staff := nr.Emails[0], nr.Emails[1]
		if ack.Kind != EmailAcknowledgement || ack.To != "aigerim@example.kz" || ack.Locale != Kazakh || ack.Secrets[SecretStatus] == "" ||
			(ack.Secrets[SecretConfirm] != "") != verify || (nr.ConfirmTokenHash != nil) != verify || !says(ack, "Verify", verify) {
			t.Errorf("verify %v: acknowledgement %+v", verify, ack)
		}
		if verify && (!nr.ConfirmExpiresAt.Equal(b.now.Add(72*time.Hour)) || !says(ack, "ConfirmURL", "https://rights.example.kz/confirm/"+SecretPlaceholder(SecretConfirm))) {
			t.Errorf("confirmation link until %v:\n%s", nr.ConfirmExpiresAt, ack.Text)
		}
		if staff.Kind != EmailStaffNew || staff.To != "privacy@example.kz" || staff.Locale != Russian || len(staff.Secrets) != 0 {
			t.Errorf("verify %v: staff notice %+v", verify, staff)
		}
	}
}

func TestAnInvalidSubmissionStoresNothing(t *testing.T) {
	b := newIntakeBench(t, nil)
	for _, s := range []Submission{
		{Type: Erasure, Email: "aigerim@example.kz", Consent: true},                          // no name
		{Type: Erasure, FullName: "А", Email: "not an address", Consent: true},               // no address
		{Type: Erasure, FullName: "А", Email: "a@example.kz"},                                // not confirmed
		{Type: "telepathy", FullName: "А", Email: "a@example.kz", Consent: true},             // no such right
		{Type: Rectification, FullName: "А", Email: "a@example.kz", Consent: true},           // what to correct?
		{Type: Erasure, FullName: "А", Email: "a@example.kz", Consent: true, OnBehalf: true}, // for whom?
	} {
		_, err := b.intake.Submit(context.Background(), s, Russian)
		var verr *ValidationError
		if !errors.As(err, &verr) || len(verr.Fields) == 0 {
			t.Errorf("%+v: %v", s, err)
		}
	}
	if len(b.store.created) != 0 {
		t.Errorf("%d invalid submissions stored", len(b.store.created))
	}
}

func TestAVouchedSubmissionStartsConfirmedWithTheKeysIdentityCheck(t *testing.T) {
	b := newIntakeBench(t, nil)
	got, err := b.intake.SubmitVouched(context.Background(), erasureBy("aigerim@example.kz"), Russian, Voucher{APIKeyID: keyID})
	if err != nil {
		t.Fatal(err)
	}
	nr := b.store.created[0]
	if got.Status != New || got.StatusURL == "" || nr.VouchedBy != keyID || nr.ConfirmTokenHash != nil ||
		!nr.Request.ConfirmedAt.Equal(b.now) || nr.Request.Identity != (IdentityCheck{At: b.now, Method: IdentityOperatorAccount, APIKeyID: keyID}) {
		t.Errorf("vouched: receipt %+v, stored %+v", got, nr)
	}
	if string(HashToken(got.StatusURL[len("https://rights.example.kz/s/"):])) != string(nr.StatusTokenHash) {
		t.Error("the status link answered is not the one stored")
	}
	if ack := nr.Emails[0]; ack.Secrets[SecretConfirm] != "" || ack.Secrets[SecretStatus] == "" {
		t.Errorf("vouched acknowledgement %+v", ack)
	}
	if _, err := b.intake.SubmitVouched(context.Background(), erasureBy("b@example.kz"), Russian, Voucher{}); err == nil || len(b.store.created) != 1 {
		t.Errorf("a vouched submission without a key: %v", err)
	}
}

func TestTheSameSubmissionSentTwiceFilesOneRequest(t *testing.T) {
	form, err := NewToken(nil)
	if err != nil {
		t.Fatal(err)
	}
	type sent struct {
		s       Submission
		vouched bool
	}
	withKey := func(s Submission, key string) Submission { s.IdempotencyKey = key; return s }
	withForm := func(s Submission, id string) Submission { s.FormID = id; return s }
	edited := func(s Submission) Submission { s.Details = "Удалите всё"; return s }
	base := erasureBy("aigerim@example.kz")
	for _, tc := range []struct {
		name     string
		first    sent
		again    sent
		stored   int   // requests in all
		wantErr  error // of the second
		sameRef  bool
		emailsOf int // emails recorded in all
	}{
		{"an API client's retry", sent{withKey(base, "k-1"), false}, sent{withKey(base, "k-1"), false}, 1, nil, true, 2},
		{"an API client's key reused for another body", sent{withKey(base, "k-1"), false}, sent{withKey(edited(base), "k-1"), false}, 1, ErrIdempotencyMismatch, false, 2},
		{"the same key for another address", sent{withKey(base, "k-1"), false}, sent{withKey(erasureBy("other@example.kz"), "k-1"), false}, 2, nil, false, 4},
		{"the same key from another client", sent{withKey(base, "k-1"), false}, sent{withKey(base, "k-1"), true}, 2, nil, false, 4},
		{"a double click", sent{withForm(base, form.Plain), false}, sent{withForm(base, form.Plain), false}, 1, nil, true, 2},
		{"the form sent again with other answers", sent{withForm(base, form.Plain), false}, sent{withForm(edited(base), form.Plain), false}, 2, nil, false, 4},
		{"a form id that is no token", sent{withForm(base, "1"), false}, sent{withForm(base, "1"), false}, 2, nil, false, 4},
	} {
		b := newIntakeBench(t, nil)
		submit := func(x sent) (Receipt, error) {
			if x.vouched {
				return b.intake.SubmitVouched(context.Background(), x.s, Russian, Voucher{APIKeyID: keyID})
			}
			return b.intake.Submit(context.Background(), x.s, Russian)
		}
		first, err := submit(tc.first)
		if err != nil {
			t.Fatalf("%s: first: %v", tc.name, err)
		}
		b.now = b.now.Add(time.Minute)
		again, err := submit(tc.again)
		if !errors.Is(err, tc.wantErr) || (err == nil && (again.Reference == first.Reference) != tc.sameRef) {
			t.Errorf("%s: %+v, %v after %+v", tc.name, again, err, first)
		}
		if tc.sameRef && (!again.ReceivedAt.Equal(first.ReceivedAt) || again.Status != first.Status) {
			t.Errorf("%s: the repeat answers %+v, the first was %+v", tc.name, again, first)
		}
		if n := len(b.store.created); n != tc.stored {
			t.Errorf("%s: %d requests stored, want %d", tc.name, n, tc.stored)
		}
		if n := len(b.store.emails()); n != tc.emailsOf {
			t.Errorf("%s: %d emails, want %d", tc.name, n, tc.emailsOf)
		}
	}
}

func TestAnAddressGetsAtMostItsAcknowledgementsADay(t *testing.T) {
	b := newIntakeBench(t, func(c *IntakeConfig) { c.AcknowledgementsPerDay = 2 })
	for range 2 {
		if _, err := b.intake.Submit(context.Background(), erasureBy("aigerim@example.kz"), Russian); err != nil {
			t.Fatal(err)
		}
	}
	_, err := b.intake.Submit(context.Background(), erasureBy("AIGERIM@example.kz"), Russian)
	var limit *LimitReached
	midnight := time.Date(2026, 3, 3, 0, 0, 0, 0, almaty(t))
	if !errors.As(err, &limit) || limit.Field != "email" || limit.Key != "error.acknowledgements_per_day" ||
		!limit.RetryAt.Equal(midnight) || limit.Params["Max"] != 2 {
		t.Fatalf("a third submission the same day: %v", err)
	}
	if n := len(b.store.created); n != 2 {
		t.Errorf("%d stored", n)
	}
	if _, err := b.intake.Submit(context.Background(), erasureBy("other@example.kz"), Russian); err != nil {
		t.Errorf("another address the same day: %v", err)
	}
	b.now = midnight
	if _, err := b.intake.Submit(context.Background(), erasureBy("aigerim@example.kz"), Russian); err != nil {
		t.Errorf("the next day: %v", err)
	}
}

func TestAReferenceThatCollidesIsDrawnAgain(t *testing.T) {
	b := newIntakeBench(t, nil)
	b.store.takenReferences = 2
	if _, err := b.intake.Submit(context.Background(), erasureBy("aigerim@example.kz"), Russian); err != nil || len(b.store.created) != 1 {
		t.Errorf("after two collisions: %v, %d stored", err, len(b.store.created))
	}
}
