package request

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAnswersNeedTheIdentityCheckTheRuleNames(t *testing.T) {
	rule, errs := ParseIdentityRule(DefaultIdentityRule)
	if errs != nil {
		t.Fatal(errs)
	}
	copyReq := Request{Type: Access, AccessScope: "copy"}
	if err := rule.AllowsAnswer(copyReq); !errors.Is(err, ErrIdentityCheckMissing) || rule.State(copyReq) != IdentityMissing {
		t.Errorf("an access copy without a check: %v, %s", err, rule.State(copyReq))
	}
	copyReq.Identity = IdentityCheck{At: time.Unix(1, 0), Method: IdentityVideoCall, StaffID: 4}
	if err := rule.AllowsAnswer(copyReq); err != nil || rule.State(copyReq) != IdentityDone {
		t.Errorf("an access copy with a check: %v, %s", err, rule.State(copyReq))
	}
	info := Request{Type: Access, AccessScope: "information"}
	if err := rule.AllowsAnswer(info); err != nil || rule.State(info) != IdentityNotNeeded {
		t.Errorf("access for information: %v, %s", err, rule.State(info))
	}
	var none IdentityRule
	if none.Needed(Request{Type: Erasure}) {
		t.Error("the zero rule asks for a check")
	}
}

func TestAnIdentityCheckIsRecordedOnceOnAConfirmedOpenRequest(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	if _, err := checkIdentityInput("passport", "x"); !errors.Is(err, ErrIdentityMethod) {
		t.Errorf("an unknown method: %v", err)
	}
	if _, err := checkIdentityInput(IdentityInPerson, " \n "); !errors.Is(err, ErrIdentityNote) {
		t.Errorf("no note: %v", err)
	}
	if _, err := checkIdentityInput(IdentityInPerson, strings.Repeat("ә", MaxIdentityNote+1)); !errors.Is(err, ErrIdentityNote) {
		t.Errorf("a note too long: %v", err)
	}
	for _, s := range []Status{Unverified, Completed, Rejected, Withdrawn, Expired} {
		if _, err := identityChange(Request{Status: s}, IdentityInPerson, "n", now); !errors.Is(err, ErrTransitionNotAllowed) {
			t.Errorf("a check on a %s request: %v", s, err)
		}
	}
	ch, err := identityChange(Request{Status: InProgress}, IdentityInPerson, "Паспорт", now)
	if err != nil || ch.Identity == nil || ch.Identity.Method != IdentityInPerson || ch.Text != "Паспорт" ||
		ch.Data["method"] != "in_person" || ch.Event != EventIdentityChecked || ch.To != InProgress {
		t.Fatalf("the change: %+v, %v", ch, err)
	}
	if _, err := identityChange(Request{Status: InProgress, Identity: IdentityCheck{At: now, Method: IdentityInPerson, StaffID: 7}}, IdentityVideoCall, "again", now); !errors.Is(err, ErrIdentityChecked) {
		t.Errorf("a second check: %v", err)
	}
}

// hmacSigner signs with one fixed key (the keyring's is tested in its package).
type hmacSigner []byte

func (k hmacSigner) Sign(purpose string, msg []byte) []byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte(purpose + "\x00"))
	m.Write(msg)
	return m.Sum(nil)
}

func (k hmacSigner) Verify(purpose string, msg, sig []byte) bool {
	return hmac.Equal(k.Sign(purpose, msg), sig)
}

type clockAt struct{ t *time.Time }

func (c clockAt) Now() time.Time { return *c.t }

func TestAReceiptNamesItsRequestForAnHourAndNothingElse(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	rc := Receipts{Signer: hmacSigner("k1"), Clock: clockAt{&now}}
	v := rc.Issue("RD-7K4M-9QXT-2HV5")
	if ref, err := rc.Check(v); err != nil || ref != "RD-7K4M-9QXT-2HV5" {
		t.Fatalf("a fresh receipt: %q, %v", ref, err)
	}
	for _, bad := range []string{
		"", "RD-7K4M-9QXT-2HV5", strings.Replace(v, "RD-7K4M-9QXT-2HV5", "RD-AAAA-AAAA-AAAA", 1),
		strings.Replace(v, ".17", ".27", 1), v + "A", v[:len(v)-1], strings.Repeat("A", 43),
	} {
		if _, err := rc.Check(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Check(%q): %v, want ErrNotFound", bad, err)
		}
	}
	if _, err := (Receipts{Signer: hmacSigner("k2"), Clock: clockAt{&now}}).Check(v); !errors.Is(err, ErrNotFound) {
		t.Errorf("a receipt under another key: %v", err)
	}
	now = now.Add(ReceiptFor)
	if _, err := rc.Check(v); err != nil {
		t.Errorf("a receipt at the end of its hour: %v", err)
	}
	now = now.Add(time.Second)
	if _, err := rc.Check(v); !errors.Is(err, ErrLinkExpired) {
		t.Errorf("a receipt past its hour: %v", err)
	}
}
