package inbound

import (
	"strings"
	"testing"
)

const (
	validRef = "RD-5398-D123-456V" // check symbol right
	otherRef = "RD-AE98-D123-4561"
)

func TestSubjectReferenceToleratesPrefixesAndCase(t *testing.T) {
	tests := []struct {
		subject string
		want    string
	}{
		{"Ваш запрос " + validRef + " принят", validRef},
		{"Re: Ваш запрос " + validRef + " принят", validRef},
		{"RE: FW: [" + validRef + "] Information requested", validRef},
		{"Fwd: Re[2]: request rd-5398-d123-456v", validRef},
		{"Ответ: Запрос RD 5398 D123 456V", validRef},
		{"Отв: Re: Сұрау rd5398d123456v", validRef},
		{"Жауап: Сіздің өтінішіңіз (RD–5398–D123–456V) қабылданды", validRef},
		{"Жауап: RD-5398-D123-456V", validRef},
		{"Re: RD-5398-DI23-456V", validRef},   // I read as 1, as a person may type it
		{"Re: RD-5398-D123-456W", ""},         // wrong check symbol
		{"Re: STANDARD-5398-D123-456V-X", ""}, // not standing on its own
		{"Re: " + otherRef + " and " + validRef, otherRef},
		{"Re: no reference here", ""},
	}
	for _, tt := range tests {
		got, ok := SubjectReference(tt.subject)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("SubjectReference(%q) = %q, %v; want %q", tt.subject, got, ok, tt.want)
		}
	}
}

func TestBareSubjectStripsReplyAndForwardPrefixes(t *testing.T) {
	tests := map[string]string{
		"Re: Fwd: Удаление данных":    "Удаление данных",
		"Ответ: Отв: Запрос":          "Запрос",
		"Жауап: Re[3]: Сұрау":         "Сұрау",
		"RE:FW: access":               "access",
		"Пересл: Re(2): доступ":       "доступ",
		"Remove my data":              "Remove my data",
		"Regarding: nothing to strip": "Regarding: nothing to strip",
	}
	for in, want := range tests {
		if got := BareSubject(in); got != want {
			t.Errorf("BareSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReplyAddressRoundTripsThroughReadTag(t *testing.T) {
	ref, err := ReferenceTag(strings.ToLower(validRef))
	if err != nil {
		t.Fatal(err)
	}
	addr, err := ReplyAddress("Privacy Desk <privacy@operator.kz>", ref)
	if err != nil {
		t.Fatal(err)
	}
	if addr != "privacy+rd-5398-d123-456v@operator.kz" {
		t.Errorf("reply address = %q", addr)
	}
	bases := []string{"privacy@operator.kz"}
	// A server may hand it back in any case.
	for _, a := range []string{addr, strings.ToUpper(addr), "<" + addr + ">"} {
		got, err := ReadTag(a, bases)
		if err != nil || got.Reference != validRef {
			t.Errorf("ReadTag(%q) = %+v, %v", a, got, err)
		}
	}

	tok, err := TokenTag("c7q2m9")
	if err != nil {
		t.Fatal(err)
	}
	addr, err = ReplyAddress("privacy@operator.kz", tok)
	if err != nil || addr != "privacy+c7q2m9@operator.kz" {
		t.Fatalf("token address = %q, %v", addr, err)
	}
	if got, err := ReadTag(addr, bases); err != nil || got.Token != "c7q2m9" || got.Reference != "" {
		t.Errorf("ReadTag(token) = %+v, %v", got, err)
	}

	for _, a := range []string{
		"privacy@operator.kz",                   // no tag
		"someone+rd-5398-d123-456v@operator.kz", // another mailbox
		"privacy+rd-5398-d123-456w@operator.kz", // a reference with a wrong check
		"privacy+Bad_Token!@operator.kz",
		"not an address",
	} {
		if got, err := ReadTag(a, bases); err == nil {
			t.Errorf("ReadTag(%q) = %+v, want ErrNotPlusAddress", a, got)
		}
	}
	if _, err := TokenTag("rdx"); err == nil {
		t.Error("a token starting with rd is taken for a reference")
	}
	if _, err := ReplyAddress("privacy+x@operator.kz", tok); err == nil {
		t.Error("a base with a tag already is accepted")
	}
	if a, err := ReplyAddress("privacy@operator.kz", Tag{}); err != nil || a != "privacy@operator.kz" {
		t.Errorf("no tag: %q, %v", a, err)
	}
}

func TestThreadKeysFindInReplyToSubjectReferenceAndPlusTag(t *testing.T) {
	raw := letter(`
From: a@b.kz
To: "Privacy" <privacy+`+strings.ToLower(otherRef)+`@operator.kz>
Subject: Re: `+validRef+`
In-Reply-To: <rd.9.info.x@operator.kz>
References: <rd.9.ack.a@operator.kz> <rd.9.info.x@operator.kz>`, "ok")
	l, err := Read(raw, Envelope{}, Options{Mailboxes: []string{"privacy@operator.kz"}})
	if err != nil {
		t.Fatal(err)
	}
	k := l.Keys
	if strings.Join(k.MessageIDs, " ") != "rd.9.info.x@operator.kz rd.9.ack.a@operator.kz" {
		t.Errorf("MessageIDs = %v", k.MessageIDs)
	}
	if k.Reference != validRef || k.Tag.Reference != otherRef {
		t.Errorf("keys = %+v", k)
	}
	if l.Class.Kind != KindReply || l.Class.Reason != "In-Reply-To/References, plus-address, reference in subject" {
		t.Errorf("class = %+v", l.Class)
	}
	// The envelope recipient of the listener counts as much as To.
	raw = letter("From: a@b.kz\nTo: privacy@operator.kz\nSubject: hello", "ok")
	l, _ = Read(raw, Envelope{Recipients: []string{"privacy+" + strings.ToLower(validRef) + "@operator.kz"}}, Options{Mailboxes: []string{"privacy@operator.kz"}})
	if l.Keys.Tag.Reference != validRef || l.Class.Kind != KindReply {
		t.Errorf("envelope tag: keys %+v, class %+v", l.Keys, l.Class)
	}
}
