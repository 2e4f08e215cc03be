package request

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/deadline"
)

// deskBench is a desk over memStore at a clock the test moves, under a
// real deadline policy.
type deskBench struct {
	t      *testing.T
	store  *memStore
	desk   *Desk
	now    time.Time
	policy *deadline.Policy
}

const (
	officerID = 7
	agentID   = 8
	auditorID = 9
	goneID    = 10
	keyID     = 42
)

func newDeskBench(t *testing.T, preset string, configure func(*DeskConfig)) *deskBench {
	t.Helper()
	b := &deskBench{t: t, store: newMemStore(), policy: testPolicy(t, preset)}
	b.now = time.Date(2026, 3, 2, 10, 0, 0, 0, almaty(t))
	b.store.staff = map[int64]StaffMember{
		officerID: {ID: officerID, Name: "Жанар", Email: "officer@example.kz", Locale: Russian, Active: true, CanWork: true},
		agentID:   {ID: agentID, Name: "Данияр", Email: "agent@example.kz", Locale: Kazakh, Active: true, CanWork: true},
		auditorID: {ID: auditorID, Name: "Гульнар", Email: "auditor@example.kz", Locale: Russian, Active: true},
		goneID:    {ID: goneID, Name: "Ушедший", Email: "gone@example.kz", Locale: Russian, CanWork: true},
	}
	cfg := DeskConfig{OrgName: "Школа", DownloadFor: 7 * 24 * time.Hour, ComplaintURL: "https://gov.example.kz", Preset: preset}
	if configure != nil {
		configure(&cfg)
	}
	b.desk = &Desk{Repo: b.store, Staff: b.store, Notes: b.store, Deadlines: b.policy, Composer: textComposer{},
		Clock: testClock{&b.now}, Links: Links{BaseURL: "https://rights.example.kz"}, Config: cfg}
	return b
}

// request stores a confirmed request of typ in status, received two days ago.
func (b *deskBench) request(typ Type, status Status) Request {
	b.t.Helper()
	return b.store.add(datedRequest(b.t, b.policy, typ, status, b.now.AddDate(0, 0, -2)), nil)
}

// unchanged fails the test when anything was applied to r.
func (b *deskBench) unchanged(what string, r Request) {
	b.t.Helper()
	if chs := b.store.changesOf(r.ID); len(chs) != 0 {
		b.t.Errorf("%s: refused, yet %d changes were applied: %+v", what, len(chs), chs)
	}
}

var pdf = Upload{Name: "ответ.pdf", Content: []byte("%PDF-1.7\n1 0 obj <<>> endobj\n")}

// deskActions are every action staff take on a request, each as a call
// with valid input.
var deskActions = []struct {
	name string
	do   func(d *Desk, ref string, by StaffActor) (Request, error)
}{
	{"start", func(d *Desk, ref string, by StaffActor) (Request, error) {
		return d.Start(context.Background(), ref, by)
	}},
	{"ask", func(d *Desk, ref string, by StaffActor) (Request, error) {
		return d.AskForInformation(context.Background(), ref, by, "Пришлите номер договора.")
	}},
	{"extend", func(d *Desk, ref string, by StaffActor) (Request, error) {
		return d.Extend(context.Background(), ref, by, "Данные в трёх системах")
	}},
	{"complete", func(d *Desk, ref string, by StaffActor) (Request, error) {
		return d.Complete(context.Background(), ref, by, Completion{Response: "Готово.", File: &pdf})
	}},
	{"reject", func(d *Desk, ref string, by StaffActor) (Request, error) {
		return d.Reject(context.Background(), ref, by, Rejection{Reason: deadline.GroundNoData, Text: "Данных о вас нет."})
	}},
	{"identity", func(d *Desk, ref string, by StaffActor) (Request, error) {
		return d.RecordIdentityCheck(context.Background(), ref, by, IdentityInPerson, "Паспорт")
	}},
	{"recompute", func(d *Desk, ref string, by StaffActor) (Request, error) {
		return d.Recompute(context.Background(), ref, by, "Новая политика")
	}},
	{"assign", func(d *Desk, ref string, by StaffActor) (Request, error) {
		return d.Assign(context.Background(), ref, by, agentID)
	}},
}

func TestEachDeskActionIsAllowedOnlyFromItsStates(t *testing.T) {
	// Stated here, not read from the lifecycle table: the table is what
	// this test checks.
	allowed := map[string][]Status{
		"start":     {New, AwaitingRequester}, // from waiting: back to work
		"ask":       {New, InProgress},
		"extend":    {New, InProgress, AwaitingRequester},
		"complete":  {New, InProgress, AwaitingRequester},
		"reject":    {Triage, New, InProgress, AwaitingRequester}, // a letter that asks for nothing the law grants
		"identity":  {New, InProgress, AwaitingRequester},
		"recompute": {Unverified, New, InProgress, AwaitingRequester},
		"assign":    {Triage, Unverified, New, InProgress, AwaitingRequester, Completed, Rejected, Withdrawn, Expired, Merged},
	}
	statuses := []Status{Triage, Unverified, New, InProgress, AwaitingRequester, Completed, Rejected, Withdrawn, Expired, Merged}
	for _, a := range deskActions {
		for _, from := range statuses {
			b := newDeskBench(t, "default", nil)
			r := b.request(Erasure, from)
			_, err := a.do(b.desk, r.Reference, ByStaff(officerID))
			want := slices.Contains(allowed[a.name], from)
			switch {
			case want && err != nil:
				t.Errorf("%s from %s: %v, want it done", a.name, from, err)
			case !want && !errors.Is(err, ErrTransitionNotAllowed):
				t.Errorf("%s from %s: %v, want ErrTransitionNotAllowed", a.name, from, err)
			case !want:
				b.unchanged(a.name+" from "+string(from), r)
			case want && len(b.store.changesOf(r.ID)) != 1:
				t.Errorf("%s from %s: %d changes applied, want 1", a.name, from, len(b.store.changesOf(r.ID)))
			}
		}
	}
}

func TestWhatStaffLeftOutIsRefusedBeforeTheRequestIsLookedAt(t *testing.T) {
	long := strings.Repeat("ә", MaxReplyLength+1)
	for _, tc := range []struct {
		name string
		do   func(d *Desk, ref string) error
		want error
	}{
		{"ask without a message", func(d *Desk, ref string) error {
			_, err := d.AskForInformation(context.Background(), ref, ByStaff(agentID), " \n\t ")
			return err
		}, ErrTextRequired},
		{"ask at length", func(d *Desk, ref string) error {
			_, err := d.AskForInformation(context.Background(), ref, ByStaff(agentID), long)
			return err
		}, ErrTextRequired},
		{"extend without a reason", func(d *Desk, ref string) error {
			_, err := d.Extend(context.Background(), ref, ByStaff(agentID), "\x00 ")
			return err
		}, ErrReasonRequired},
		{"recompute without a reason", func(d *Desk, ref string) error {
			_, err := d.Recompute(context.Background(), ref, ByStaff(agentID), "")
			return err
		}, ErrReasonRequired},
		{"complete without a response", func(d *Desk, ref string) error {
			_, err := d.Complete(context.Background(), ref, ByStaff(agentID), Completion{Response: "  ", File: &pdf})
			return err
		}, ErrTextRequired},
		{"complete with a program", func(d *Desk, ref string) error {
			_, err := d.Complete(context.Background(), ref, ByStaff(agentID), Completion{Response: "Готово.",
				File: &Upload{Name: "answer.pdf", Content: []byte("MZ\x90\x00\x03")}})
			return err
		}, ErrResponseFileType},
		{"complete with an empty file", func(d *Desk, ref string) error {
			_, err := d.Complete(context.Background(), ref, ByStaff(agentID), Completion{Response: "Готово.", File: &Upload{Name: "a.pdf"}})
			return err
		}, ErrResponseFileType},
		{"complete with a file too large", func(d *Desk, ref string) error {
			big := append([]byte("%PDF-1.4\n"), make([]byte, MaxResponseFile)...)
			_, err := d.Complete(context.Background(), ref, ByStaff(agentID), Completion{Response: "Готово.", File: &Upload{Name: "a.pdf", Content: big}})
			return err
		}, ErrResponseFileTooLarge},
		{"reject without a ground", func(d *Desk, ref string) error {
			_, err := d.Reject(context.Background(), ref, ByStaff(agentID), Rejection{Text: "Нет."})
			return err
		}, ErrReasonRequired},
		{"reject without a text", func(d *Desk, ref string) error {
			_, err := d.Reject(context.Background(), ref, ByStaff(agentID), Rejection{Reason: deadline.GroundOther, Text: "\r\n"})
			return err
		}, ErrTextRequired},
		{"identity check by a method not on the list", func(d *Desk, ref string) error {
			_, err := d.RecordIdentityCheck(context.Background(), ref, ByStaff(agentID), "a_hunch", "Паспорт")
			return err
		}, ErrIdentityMethod},
		{"identity check without a note", func(d *Desk, ref string) error {
			_, err := d.RecordIdentityCheck(context.Background(), ref, ByStaff(agentID), IdentityInPerson, "")
			return err
		}, ErrIdentityNote},
		{"identity check with a note too long", func(d *Desk, ref string) error {
			_, err := d.RecordIdentityCheck(context.Background(), ref, ByStaff(agentID), IdentityInPerson, strings.Repeat("ә", MaxIdentityNote+1))
			return err
		}, ErrIdentityNote},
		{"an action with nobody behind it", func(d *Desk, ref string) error {
			_, err := d.Start(context.Background(), ref, StaffActor{})
			return err
		}, errNoActor},
		{"an action by a member of staff and a key at once", func(d *Desk, ref string) error {
			_, err := d.Start(context.Background(), ref, StaffActor{StaffID: agentID, APIKeyID: keyID})
			return err
		}, errNoActor},
	} {
		// On a completed request: what staff typed is refused first, so
		// the refusal is about the input, not the state.
		b := newDeskBench(t, "default", nil)
		r := b.request(Erasure, Completed)
		if err := tc.do(b.desk, r.Reference); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		b.unchanged(tc.name, r)
	}
}

func TestAPreviewedAnswerIsSentExactlyAsPreviewed(t *testing.T) {
	answers := []struct {
		name    string
		prepare func(d *Desk, r Request) (Prepared, error)
		send    func(d *Desk, r Request, previewed string) (Request, error)
		kind    string
	}{
		{"completion with a file",
			func(d *Desk, r Request) (Prepared, error) {
				return d.PrepareCompletion(context.Background(), r, Completion{Response: "Копия ваших данных во вложении.", File: &pdf})
			},
			func(d *Desk, r Request, previewed string) (Request, error) {
				return d.Complete(context.Background(), r.Reference, ByStaff(agentID),
					Completion{Response: "Копия ваших данных во вложении.", File: &pdf, Previewed: previewed})
			}, EmailCompleted},
		{"rejection",
			func(d *Desk, r Request) (Prepared, error) {
				return d.PrepareRejection(r, Rejection{Reason: deadline.GroundNoData, Text: "Данных о вас нет."})
			},
			func(d *Desk, r Request, previewed string) (Request, error) {
				return d.Reject(context.Background(), r.Reference, ByStaff(agentID),
					Rejection{Reason: deadline.GroundNoData, Text: "Данных о вас нет.", Previewed: previewed})
			}, EmailRejected},
	}
	for _, a := range answers {
		b := newDeskBench(t, "default", nil)
		r := b.request(Rectification, InProgress)
		p, err := a.prepare(b.desk, r)
		if err != nil || p.Email == nil || p.Email.Kind != a.kind || p.Email.To != r.Email {
			t.Fatalf("%s: prepared %+v, %v", a.name, p.Email, err)
		}
		b.unchanged(a.name+" prepared", r)

		// Later the same day, the Send of that preview sends that email.
		b.now = b.now.Add(time.Hour)
		if _, err := a.send(b.desk, r, p.Digest()); err != nil {
			t.Fatalf("%s: send: %v", a.name, err)
		}
		sent := b.store.last(t, r.ID)
		if len(sent.Emails) != 1 {
			t.Fatalf("%s: %d emails sent", a.name, len(sent.Emails))
		}
		got := sent.Emails[0]
		if got.Kind != p.Email.Kind || got.To != p.Email.To || got.Locale != p.Email.Locale ||
			got.Subject != p.Email.Subject || got.Text != p.Email.Text || got.HTML != p.Email.HTML {
			t.Errorf("%s: sent\n%+v\npreviewed\n%+v", a.name, got, *p.Email)
		}
		if got.Secrets[SecretStatus] == "" || sent.AddStatusLink == nil {
			t.Errorf("%s: the email carries no status link of its own", a.name)
		}
		if a.kind == EmailCompleted {
			if f := p.File(); f == nil || len(sent.Files) != 1 || !slices.Equal(sent.Files[0].SHA256, f.SHA256) ||
				sent.Files[0].ContentType != "application/pdf" || sent.Download == nil || got.Secrets[SecretDownload] == "" {
				t.Errorf("completion: file %+v, download %+v", sent.Files, sent.Download)
			}
		}
	}
}

func TestAnAnswerThatChangedSincePreviewIsNotSent(t *testing.T) {
	b := newDeskBench(t, "default", nil)
	r := b.request(Rectification, InProgress)
	answer := Completion{Response: "Исправлено.", File: &pdf}
	p, err := b.desk.PrepareCompletion(context.Background(), r, answer)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		answer Completion
		before func()
	}{
		{"another response", Completion{Response: "Исправлено, извините.", File: &pdf}, nil},
		{"another file", Completion{Response: "Исправлено.", File: &Upload{Name: "ответ.pdf", Content: []byte("%PDF-1.7\n2")}}, nil},
		{"no file", Completion{Response: "Исправлено."}, nil},
		{"the download link would run out another day", answer, func() { b.now = b.now.AddDate(0, 0, 1) }},
		{"a colleague extended the deadline", answer, func() {
			if _, err := b.desk.Extend(context.Background(), r.Reference, ByStaff(officerID), "Много данных"); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		if tc.before != nil {
			tc.before()
		}
		before := len(b.store.changesOf(r.ID))
		tc.answer.Previewed = p.Digest()
		if _, err := b.desk.Complete(context.Background(), r.Reference, ByStaff(agentID), tc.answer); !errors.Is(err, ErrPreviewChanged) {
			t.Errorf("%s: %v, want ErrPreviewChanged", tc.name, err)
		}
		if after := len(b.store.changesOf(r.ID)); after != before {
			t.Errorf("%s: refused, yet the request changed", tc.name)
		}
	}
}

func TestCompletionWaitsForTheIdentityCheckTheRuleNames(t *testing.T) {
	rule, errs := ParseIdentityRule(DefaultIdentityRule)
	if errs != nil {
		t.Fatal(errs)
	}
	b := newDeskBench(t, "default", func(c *DeskConfig) { c.Identity = rule })
	copyReq := datedRequest(t, b.policy, Access, InProgress, b.now.AddDate(0, 0, -1))
	copyReq.AccessScope = "copy"
	copyReq = b.store.add(copyReq, nil)
	info := b.request(Access, InProgress) // information only: no check needed
	erasure := b.request(Erasure, InProgress)

	if _, err := b.desk.PrepareCompletion(context.Background(), copyReq, Completion{Response: "Копия во вложении.", File: &pdf}); !errors.Is(err, ErrIdentityCheckMissing) {
		t.Errorf("preview of a copy without a check: %v", err)
	}
	if _, err := b.desk.Complete(context.Background(), copyReq.Reference, ByStaff(agentID), Completion{Response: "Копия во вложении."}); !errors.Is(err, ErrIdentityCheckMissing) {
		t.Errorf("a copy without a check: %v", err)
	}
	b.unchanged("a copy without a check", copyReq)
	if _, err := b.desk.Complete(context.Background(), info.Reference, ByStaff(agentID), Completion{Response: "Мы обрабатываем…"}); err != nil {
		t.Errorf("information needs no check: %v", err)
	}
	// Refusing stays possible: "identity not confirmed" is a ground.
	if _, err := b.desk.Reject(context.Background(), erasure.Reference, ByStaff(agentID),
		Rejection{Reason: deadline.GroundIdentityNotConfirmed, Text: "Личность не подтверждена."}); err != nil {
		t.Errorf("refusing without a check: %v", err)
	}
	if _, err := b.desk.RecordIdentityCheck(context.Background(), copyReq.Reference, ByStaff(agentID), IdentityVideoCall, "Удостоверение по видеосвязи"); err != nil {
		t.Fatal(err)
	}
	if b.desk.IdentityState(b.store.request(copyReq.ID)) != IdentityDone || b.desk.CanCheckIdentity(b.store.request(copyReq.ID)) == nil {
		t.Error("a checked request still offers a check")
	}
	if _, err := b.desk.RecordIdentityCheck(context.Background(), copyReq.Reference, ByStaff(officerID), IdentityInPerson, "Ещё раз"); !errors.Is(err, ErrIdentityChecked) {
		t.Errorf("a second check: %v", err)
	}
	if _, err := b.desk.Complete(context.Background(), copyReq.Reference, ByStaff(agentID), Completion{Response: "Копия во вложении.", File: &pdf}); err != nil {
		t.Errorf("a copy after the check: %v", err)
	}
}

func TestARequestIsRefusedOnlyOnAGroundOfItsOwnRuleSet(t *testing.T) {
	for _, tc := range []struct {
		preset   string
		basis    func(r *Request) // how the record names its rule set
		ground   string
		refused  bool
		wantSet  string
		wantCite string
	}{
		{"kz", nil, deadline.GroundUnfulfilledObligation, false, "kz", "94-V"},
		{"kz", nil, deadline.GroundExcessive, true, "kz", ""},
		{"gdpr", nil, deadline.GroundExcessive, false, "gdpr", "12(5)"},
		{"gdpr", nil, deadline.GroundUnfulfilledObligation, true, "gdpr", ""},
		// A record from before terms named the rule set: its rule id says.
		{"default", func(r *Request) { r.RuleBasis, r.Rule = "", "gdpr.one_month" }, deadline.GroundExcessive, false, "gdpr", "12(5)"},
		// Neither says: the deployment's preset.
		{"kz", func(r *Request) { r.RuleBasis, r.Rule = "", deadline.PromiseRuleID }, deadline.GroundUnfulfilledObligation, false, "kz", "94-V"},
	} {
		b := newDeskBench(t, tc.preset, nil)
		r := datedRequest(t, b.policy, ConsentWithdrawal, InProgress, b.now.AddDate(0, 0, -1))
		if tc.basis != nil {
			tc.basis(&r)
		}
		r = b.store.add(r, nil)
		if got := b.desk.RuleSet(r); got != tc.wantSet {
			t.Errorf("%s %s: rule set %q, want %q", tc.preset, tc.ground, got, tc.wantSet)
		}
		var codes []string
		for _, g := range b.desk.RejectionGrounds(r) {
			codes = append(codes, g.Code)
		}
		if offered := slices.Contains(codes, tc.ground); offered == tc.refused {
			t.Errorf("%s: %s offered %v among %v", tc.preset, tc.ground, offered, codes)
		}
		_, err := b.desk.Reject(context.Background(), r.Reference, ByStaff(agentID), Rejection{Reason: tc.ground, Text: "Основание указано."})
		if tc.refused {
			if !errors.Is(err, ErrReasonRequired) {
				t.Errorf("%s: refusing on %s: %v, want ErrReasonRequired", tc.preset, tc.ground, err)
			}
			b.unchanged(tc.ground, r)
			continue
		}
		if err != nil {
			t.Fatalf("%s: refusing on %s: %v", tc.preset, tc.ground, err)
		}
		ch := b.store.last(t, r.ID)
		mail := ch.Emails[0]
		if ch.OutcomeReason != tc.ground || ch.Data["reason"] != tc.ground || !says(mail, "Reason", tc.ground) ||
			!says(mail, "RuleSet", tc.wantSet) || !strings.Contains(mail.Text, tc.wantCite) || !says(mail, "Text", "Основание указано.") {
			t.Errorf("%s: refused on %s, change %+v, email:\n%s", tc.preset, tc.ground, ch, mail.Text)
		}
	}
}

func TestAnExtensionIsOfferedAndGrantedOnceBeforeTheDeadline(t *testing.T) {
	b := newDeskBench(t, "default", nil)
	r := b.request(Access, InProgress)
	offer, err := b.desk.CanExtend(r)
	if err != nil || !offer.DueAt.After(r.DueAt) {
		t.Fatalf("offer %v, %v", offer.DueAt, err)
	}
	got, err := b.desk.Extend(context.Background(), r.Reference, ByStaff(agentID), "  Данные в трёх системах\r\n")
	if err != nil || !got.DueAt.Equal(offer.DueAt) {
		t.Fatalf("extended to %v (%v), offered %v", got.DueAt, err, offer.DueAt)
	}
	ch := b.store.last(t, r.ID)
	if !ch.Extended || ch.Text != "Данные в трёх системах" || len(ch.Emails) != 1 ||
		!says(ch.Emails[0], "DueAt", offer.DueAt) || !says(ch.Emails[0], "Reason", "Данные в трёх системах") {
		t.Errorf("the extension %+v does not tell the requester the new date and why:\n%s", ch, ch.Emails[0].Text)
	}
	if _, err := b.desk.CanExtend(b.store.request(r.ID)); !errors.Is(err, ErrNoExtensionLeft) {
		t.Errorf("a second extension offered: %v", err)
	}
	if _, err := b.desk.Extend(context.Background(), r.Reference, ByStaff(agentID), "ещё раз"); !errors.Is(err, ErrNoExtensionLeft) {
		t.Errorf("a second extension: %v", err)
	}

	late := b.request(Access, InProgress)
	b.now = late.DueAt.Add(time.Minute)
	if _, err := b.desk.CanExtend(late); !errors.Is(err, ErrDeadlinePassed) {
		t.Errorf("an extension offered after the deadline: %v", err)
	}
	if _, err := b.desk.Extend(context.Background(), late.Reference, ByStaff(agentID), "поздно"); !errors.Is(err, ErrDeadlinePassed) {
		t.Errorf("an extension after the deadline: %v", err)
	}
	b.unchanged("an extension after the deadline", late)
	for _, s := range []Status{Unverified, Completed, Withdrawn} {
		if _, err := b.desk.CanExtend(Request{Status: s}); !errors.Is(err, ErrTransitionNotAllowed) {
			t.Errorf("an extension offered on a %s request: %v", s, err)
		}
	}
}

func TestAnAPIKeyIsNamedInEveryChangeItMakes(t *testing.T) {
	for _, by := range []StaffActor{ByStaff(agentID), ByAPIKey(keyID)} {
		for _, a := range deskActions {
			b := newDeskBench(t, "default", nil)
			from := New
			if a.name == "ask" || a.name == "complete" || a.name == "reject" {
				from = InProgress
			}
			r := b.request(Rectification, from)
			if _, err := a.do(b.desk, r.Reference, by); err != nil {
				t.Fatalf("%s by %+v: %v", a.name, by, err)
			}
			ch := b.store.last(t, r.ID)
			keyInData, _ := ch.Data["api_key_id"].(int64)
			if ch.Actor != ActorStaff || ch.ActorID != by.StaffID || keyInData != by.APIKeyID {
				t.Errorf("%s by %+v: actor %s %d, api_key_id %v", a.name, by, ch.Actor, ch.ActorID, ch.Data["api_key_id"])
			}
			for _, m := range ch.Messages {
				if m.Author != ActorStaff || m.StaffID != by.StaffID {
					t.Errorf("%s by %+v: message by %s %d", a.name, by, m.Author, m.StaffID)
				}
			}
			if id := ch.Identity; id != nil && (id.StaffID != by.StaffID || id.APIKeyID != by.APIKeyID) {
				t.Errorf("%s by %+v: identity checked by %+v", a.name, by, *id)
			}
		}
	}
}

func TestOnlyStaffWhoWorkRequestsCanBeAssigned(t *testing.T) {
	for _, tc := range []struct {
		to     int64
		want   error
		emails int
	}{
		{agentID, nil, 1},
		{officerID, nil, 0}, // taking it oneself: nobody to tell
		{0, nil, 0},         // nobody
		{auditorID, ErrNotAssignable, 0},
		{goneID, ErrUnknownStaff, 0},
		{99, ErrUnknownStaff, 0},
	} {
		b := newDeskBench(t, "default", nil)
		r := b.request(Erasure, New)
		_, err := b.desk.Assign(context.Background(), r.Reference, ByStaff(officerID), tc.to)
		if !errors.Is(err, tc.want) {
			t.Errorf("assign to %d: %v, want %v", tc.to, err, tc.want)
			continue
		}
		if tc.want != nil {
			b.unchanged("assign", r)
			continue
		}
		ch := b.store.last(t, r.ID)
		if *ch.Assign != tc.to || ch.To != New || len(ch.Emails) != tc.emails {
			t.Errorf("assign to %d: %+v", tc.to, ch)
		}
		if tc.emails == 1 && (ch.Emails[0].To != "agent@example.kz" || ch.Emails[0].Locale != Kazakh || ch.Emails[0].Kind != EmailAssigned) {
			t.Errorf("assignment email %+v", ch.Emails[0])
		}
	}
	// A key assigning tells whoever it gives the request to.
	b := newDeskBench(t, "default", nil)
	r := b.request(Erasure, New)
	if _, err := b.desk.Assign(context.Background(), r.Reference, ByAPIKey(keyID), officerID); err != nil || len(b.store.last(t, r.ID).Emails) != 1 {
		t.Errorf("a key assigning: %v", err)
	}
}

func TestWaitingForTheRequesterStopsTheClockWhenTheDeploymentSaysSo(t *testing.T) {
	for _, pause := range []bool{false, true} {
		b := newDeskBench(t, "default", func(c *DeskConfig) { c.PauseWhileAwaiting = pause })
		r := b.request(Erasure, InProgress)
		if _, err := b.desk.AskForInformation(context.Background(), r.Reference, ByStaff(agentID), "Пришлите номер договора."); err != nil {
			t.Fatal(err)
		}
		asked := b.store.last(t, r.ID)
		if asked.Pause != pause || len(asked.Emails) != 1 || !says(asked.Emails[0], "Message", "Пришлите номер договора.") ||
			len(asked.Messages) != 1 || asked.Messages[0].Body != "Пришлите номер договора." {
			t.Errorf("pause %v: the question %+v", pause, asked)
		}
		// Four days later staff answer without waiting any longer.
		b.now = b.now.AddDate(0, 0, 4)
		if _, err := b.desk.Complete(context.Background(), r.Reference, ByStaff(agentID), Completion{Response: "Удалено."}); err != nil {
			t.Fatal(err)
		}
		done := b.store.last(t, r.ID)
		if done.Resume != pause || (pause && !done.DueAt.Equal(r.DueAt.AddDate(0, 0, 4))) || (!pause && !done.DueAt.IsZero()) {
			t.Errorf("pause %v: completing moved the due date to %v (resume %v), was %v", pause, done.DueAt, done.Resume, r.DueAt)
		}
	}
}

func TestRecomputeDatesAnOpenRequestUnderThePolicyInForce(t *testing.T) {
	b := newDeskBench(t, "default", nil)
	r := b.request(ConsentWithdrawal, InProgress)
	b.desk.Deadlines = testPolicy(t, "kz")
	got, err := b.desk.Recompute(context.Background(), r.Reference, ByStaff(officerID), "Перешли на сроки закона РК")
	if err != nil {
		t.Fatal(err)
	}
	ch := b.store.last(t, r.ID)
	if !got.DueAt.Before(r.DueAt) || ch.Rule == nil || ch.Rule.Rule != "kz.consent_withdrawal" ||
		ch.Data["old_rule"] != r.Rule || ch.Text != "Перешли на сроки закона РК" || len(ch.Emails) != 0 {
		t.Errorf("recomputed to %v: %+v", got.DueAt, ch)
	}
}

func TestNotesKeepTheNoteRules(t *testing.T) {
	b := newDeskBench(t, "default", nil)
	r := b.request(Erasure, Completed) // a closed request takes notes too
	for _, bad := range []string{"", " \n ", "\x00", strings.Repeat("ә", MaxNoteLength+1)} {
		if _, err := b.desk.AddNote(context.Background(), r, ByStaff(agentID), bad); !errors.Is(err, ErrNoteInvalid) {
			t.Errorf("note %q: %v", bad, err)
		}
	}
	if _, err := b.desk.AddNote(context.Background(), r, StaffActor{}, "кто?"); !errors.Is(err, errNoActor) {
		t.Errorf("a note by nobody: %v", err)
	}
	if len(b.store.notes) != 0 {
		t.Fatalf("refused notes were kept: %+v", b.store.notes)
	}
	for _, by := range []StaffActor{ByStaff(agentID), ByAPIKey(keyID)} {
		n, err := b.desk.AddNote(context.Background(), r, by, "  Звонил в пятницу\r\nещё раз\x07  ")
		if err != nil || n.Body != "Звонил в пятницу\nещё раз" {
			t.Errorf("note by %+v: %+v, %v", by, n, err)
		}
	}
	if len(b.store.notes) != 2 || b.store.notes[0].by != ByStaff(agentID) || b.store.notes[1].by != ByAPIKey(keyID) || !b.store.notes[0].at.Equal(b.now) {
		t.Errorf("notes kept: %+v", b.store.notes)
	}
}
