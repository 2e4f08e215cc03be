package request

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestReferencesAreReadableAndCheckSummed(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		ref, err := NewReference(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ref) != len("RD-XXXX-XXXX-XXXX") || !strings.HasPrefix(ref, "RD-") {
			t.Fatalf("reference %q has the wrong shape", ref)
		}
		if strings.ContainsAny(ref[3:], "ILOU") {
			t.Fatalf("reference %q holds a symbol that is easy to misread", ref)
		}
		if seen[ref] {
			t.Fatalf("reference %q drawn twice", ref)
		}
		seen[ref] = true
		if got, err := ParseReference(ref); err != nil || got != ref {
			t.Fatalf("ParseReference(%q) = %q, %v", ref, got, err)
		}
	}
}

func TestParseReferenceForgivesHowPeopleTypeIt(t *testing.T) {
	ref, err := NewReference(bytes.NewReader(bytes.Repeat([]byte{1, 0, 27, 3}, 8)))
	if err != nil {
		t.Fatal(err)
	}
	variants := []string{
		ref,
		strings.ToLower(ref),
		strings.ReplaceAll(ref, "-", ""),
		" " + strings.ReplaceAll(ref, "-", " ") + " ",
		strings.ReplaceAll(strings.ReplaceAll(ref, "0", "O"), "1", "l"),
		strings.TrimPrefix(ref, "RD-"),
	}
	for _, v := range variants {
		if got, err := ParseReference(v); err != nil || got != ref {
			t.Errorf("ParseReference(%q) = %q, %v; want %q", v, got, err, ref)
		}
	}
}

func TestParseReferenceCatchesEverySingleMistypedSymbol(t *testing.T) {
	ref, _ := NewReference(nil)
	body := []byte(strings.ReplaceAll(strings.TrimPrefix(ref, "RD-"), "-", ""))
	for i := range body {
		for _, c := range crockford {
			if byte(c) == body[i] {
				continue
			}
			typo := append([]byte(nil), body...)
			typo[i] = byte(c)
			if _, err := ParseReference(string(typo)); !errors.Is(err, ErrInvalidReference) {
				t.Fatalf("typo %q of %q accepted", typo, ref)
			}
		}
	}
	for _, bad := range []string{"", "RD-", "RD-1234", "RD-1234-5678-9ABC-D", "RD-!!!!-????-####"} {
		if _, err := ParseReference(bad); !errors.Is(err, ErrInvalidReference) {
			t.Errorf("ParseReference(%q) accepted", bad)
		}
	}
}

func TestTokensAreLongRandomAndStoredOnlyAsHashes(t *testing.T) {
	a, err := NewToken(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewToken(nil)
	if a.Plain == b.Plain || len(a.Plain) != 43 || !WellFormedToken(a.Plain) {
		t.Fatalf("tokens %q %q", a.Plain, b.Plain)
	}
	if !bytes.Equal(HashToken(a.Plain), a.Hash) || bytes.Contains(a.Hash, []byte(a.Plain)) {
		t.Fatal("hash does not match the token")
	}
	for _, bad := range []string{"", "short", strings.Repeat("a", 42), strings.Repeat("!", 43), strings.Repeat("a", 44)} {
		if WellFormedToken(bad) {
			t.Errorf("WellFormedToken(%q) = true", bad)
		}
	}
}

func TestLifecycleTransitions(t *testing.T) {
	allowed := []struct {
		from, to Status
		by       Actor
	}{
		{Unverified, New, ActorRequester},
		{Unverified, Expired, ActorSystem},
		{New, InProgress, ActorStaff},
		{InProgress, AwaitingRequester, ActorStaff},
		{AwaitingRequester, InProgress, ActorRequester},
		{InProgress, Completed, ActorStaff},
		{InProgress, Rejected, ActorStaff},
		{InProgress, Withdrawn, ActorRequester},
		// A letter: staff confirm its type (on as new, or unverified until
		// the address is confirmed), or merge it; its sender may confirm
		// the address while it waits, or withdraw it.
		{Triage, New, ActorStaff},
		{Triage, Unverified, ActorStaff},
		{Triage, Merged, ActorStaff},
		{Triage, Rejected, ActorStaff},
		{Triage, Triage, ActorRequester},
		{Triage, Withdrawn, ActorRequester},
		{Triage, Expired, ActorSystem},
	}
	for _, c := range allowed {
		if err := CheckTransition(c.from, c.to, c.by); err != nil {
			t.Errorf("%s → %s by %s refused: %v", c.from, c.to, c.by, err)
		}
	}
	refused := []struct {
		from, to Status
		by       Actor
	}{
		{Unverified, New, ActorStaff},
		{New, Completed, ActorRequester},
		{Completed, InProgress, ActorStaff},
		{Withdrawn, Withdrawn, ActorRequester},
		{Expired, New, ActorRequester},
		{Rejected, Completed, ActorStaff},
		{New, Expired, ActorSystem},
		{Triage, InProgress, ActorStaff}, // not before its type is confirmed
		{Triage, Completed, ActorStaff},
		{Triage, New, ActorRequester}, // confirming the address does not confirm the type
		{New, Merged, ActorStaff},     // only a letter's own request merges
		{Merged, InProgress, ActorStaff},
	}
	for _, c := range refused {
		if err := CheckTransition(c.from, c.to, c.by); !errors.Is(err, ErrTransitionNotAllowed) {
			t.Errorf("%s → %s by %s allowed", c.from, c.to, c.by)
		}
	}
}

func TestNormalizeDropsFieldsThatDoNotBelongToTheType(t *testing.T) {
	s := Submission{
		Type: " erasure ", FullName: "  Ерлан  ", Email: " e@example.kz ", AccessScope: "copy",
		Correction: "x", Processing: "y", SubjectName: "Ребёнок", Relationship: Parent,
		Details: "line one\r\nline two",
	}
	s.Normalize()
	if s.Type != Erasure || s.FullName != "Ерлан" || s.Email != "e@example.kz" {
		t.Errorf("not trimmed: %+v", s)
	}
	if s.AccessScope != "" || s.Correction != "" || s.Processing != "" || s.SubjectName != "" || s.Relationship != "" {
		t.Errorf("foreign fields kept: %+v", s)
	}
	if s.Details != "line one\nline two" {
		t.Errorf("Details = %q", s.Details)
	}
	// Decomposed "й" (и + combining breve) composes to the single letter.
	d := Submission{FullName: "Сергеи\u0306"}
	d.Normalize()
	if d.FullName != "Сергей" {
		t.Errorf("not NFC: %q", d.FullName)
	}
}

func TestValidationReportsKeysNotSentences(t *testing.T) {
	v := NewValidator(AllTypes())
	s := Submission{Type: Access, FullName: strings.Repeat("я", 201), Email: "x", Consent: false}
	err := v.Validate(&s)
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Validate = %v", err)
	}
	want := map[string]string{"full_name": "error.too_long", "email": "error.email", "consent": "error.consent", "access_scope": "error.choice"}
	for field, key := range want {
		if verr.Fields[field].Key != key {
			t.Errorf("%s: key %q, want %q", field, verr.Fields[field].Key, key)
		}
	}
	if verr.Fields["full_name"].Params["Max"] != "200" {
		t.Errorf("max param = %v", verr.Fields["full_name"].Params)
	}
}

// Every text field the validator limits has its row in the one table, and
// the validator refuses one character more than MaxLength and no fewer.
func TestEachSubmissionFieldIsLimitedToItsMaxLength(t *testing.T) {
	var tagged []string
	st := reflect.TypeOf(Submission{})
	for i := range st.NumField() {
		f := st.Field(i)
		if slices.Contains(strings.Split(f.Tag.Get("validate"), ","), "maxlen") {
			tagged = append(tagged, strings.Split(f.Tag.Get("json"), ",")[0])
		}
	}
	if !slices.Equal(tagged, LimitedFields()) {
		t.Fatalf("fields with the maxlen rule %v, with a limit %v", tagged, LimitedFields())
	}
	v := NewValidator(AllTypes())
	for _, field := range LimitedFields() {
		max := MaxLength(field)
		if max <= 0 {
			t.Fatalf("%s: limit %d", field, max)
		}
		for _, n := range []int{max, max + 1} {
			s := Submission{Type: Rectification, FullName: "Айгерим", Email: "aigerim@example.kz", Consent: true,
				Correction: "Фамилия", OnBehalf: true, SubjectName: "Ерлан", Relationship: Parent}
			value := strings.Repeat("ә", n)
			switch field {
			case "email":
				value = strings.Repeat("a", n-len("@example.kz")) + "@example.kz"
			case "phone":
				value = "+7" + strings.Repeat(" ", n-12) + "7011234567"
			}
			reflect.ValueOf(&s).Elem().FieldByIndex(fieldIndex(t, st, field)).SetString(value)
			if field == "processing" {
				s.Type = Objection
			}
			err := v.Validate(&s)
			var verr *ValidationError
			refused := errors.As(err, &verr) && verr.Fields[field].Key == "error.too_long"
			if refused != (n > max) {
				t.Errorf("%s with %d characters (max %d): %v", field, n, max, err)
			}
			if refused && verr.Fields[field].Params["Max"] != strconv.Itoa(max) {
				t.Errorf("%s: the refusal names %v, want %d", field, verr.Fields[field].Params, max)
			}
		}
	}
}

func fieldIndex(t *testing.T, st reflect.Type, jsonName string) []int {
	t.Helper()
	for i := range st.NumField() {
		if strings.Split(st.Field(i).Tag.Get("json"), ",")[0] == jsonName {
			return []int{i}
		}
	}
	t.Fatalf("no field %s", jsonName)
	return nil
}
