package deadline

import (
	"errors"
	"strings"
	"testing"
)

// The Digital Code dates erasure and restriction from its entry into force;
// a request received the day before keeps the rule it had.
func TestDigitalCodeAppliesFromItsEntryIntoForce(t *testing.T) {
	kz := policy(t, "kz")
	tests := []struct {
		typ, received, due, rule string
	}{
		{TypeErasure, "2026-07-10 23:59", "2026-08-09", "default.calendar_30d"},
		{TypeErasure, "2026-07-11 00:01", "2026-07-26", "kz.digital_code_erasure"},
		{TypeRestriction, "2026-07-10 12:00", "2026-08-09", "default.calendar_30d"},
		{TypeRestriction, "2026-07-11 12:00", "2026-07-26", "kz.digital_code_restriction"},
		// Types the Code does not date keep Law 94-V's rules.
		{TypeConsentWithdrawal, "2026-07-13 12:00", "2026-08-03", "kz.consent_withdrawal"},
		{TypeAccess, "2026-07-13 12:00", "2026-08-12", "default.calendar_30d"},
	}
	for _, tt := range tests {
		got, err := kz.Due(Input{Type: tt.typ, ReceivedAt: at(t, tt.received)})
		if err != nil {
			t.Fatal(err)
		}
		if !got.DueAt.Equal(endOf(t, tt.due)) || got.Rule != tt.rule {
			t.Errorf("%s received %s: %s %s, want %s %s", tt.typ, tt.received, got.DueAt.Format("2006-01-02"), got.Rule, tt.due, tt.rule)
		}
		if strings.HasPrefix(tt.rule, "kz.digital_code") && !strings.Contains(got.LegalRef, "Digital Code of RK No. 255-VIII") {
			t.Errorf("%s: legal ref %q does not cite the Digital Code", tt.rule, got.LegalRef)
		}
	}
}

// A request received before the Code may still be extended by the rule it
// was dated by, even when the extension is asked after the Code's day.
func TestRequestBeforeTheDigitalCodeKeepsItsRuleWhenExtended(t *testing.T) {
	kz := policy(t, "kz")
	in := Input{Type: TypeErasure, ReceivedAt: at(t, "2026-07-01 10:00")}
	cur, err := kz.Due(in)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := kz.Extend(in, cur, at(t, "2026-07-20 10:00"), "archive in another city")
	if err != nil {
		t.Fatalf("extension under the default rule: %v", err)
	}
	if ext.Rule != "default.calendar_30d.extended" {
		t.Errorf("extended by %s", ext.Rule)
	}
	after := Input{Type: TypeErasure, ReceivedAt: at(t, "2026-07-15 10:00")}
	cur, err = kz.Due(after)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kz.Extend(after, cur, after.ReceivedAt, "archive"); !errors.Is(err, ErrNoExtension) {
		t.Errorf("the Digital Code's rule has no extension: err = %v", err)
	}
}

// The operator's own period for a type replaces a later law's rule too.
func TestPolicyFilePeriodReplacesTheDigitalCodeRule(t *testing.T) {
	f, err := LoadPolicyFile(strings.NewReader("types:\n  erasure: {value: 10, unit: calendar_days}\n  restriction: {extension: {value: 5, unit: calendar_days}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := policy(t, "kz", WithPolicyFile(f))
	got, err := p.Due(Input{Type: TypeErasure, ReceivedAt: at(t, "2026-08-03 10:00")})
	if err != nil {
		t.Fatal(err)
	}
	if got.Rule != "policy.erasure" || !got.DueAt.Equal(endOf(t, "2026-08-13")) {
		t.Errorf("erasure: %s %s", got.Rule, got.DueAt)
	}
	in := Input{Type: TypeRestriction, ReceivedAt: at(t, "2026-08-03 10:00")}
	cur, err := p.Due(in)
	if err != nil {
		t.Fatal(err)
	}
	if ext, err := p.Extend(in, cur, in.ReceivedAt, "x"); err != nil || !ext.DueAt.Equal(endOf(t, "2026-08-23")) {
		t.Errorf("restriction extended by the file's extension: %v %v", ext.DueAt, err)
	}
}

// Every preset names its refusal grounds; those taken from a law cite it,
// and a preset without the law's own list says so.
func TestEveryPresetHasRefusalGrounds(t *testing.T) {
	for _, name := range PresetNames() {
		pr, _ := LookupPreset(name)
		if len(pr.Grounds) == 0 {
			t.Errorf("%s: no grounds", name)
		}
		codes := map[string]bool{}
		cited := 0
		for _, g := range pr.Grounds {
			if codes[g.Code] {
				t.Errorf("%s: ground %s twice", name, g.Code)
			}
			codes[g.Code] = true
			if g.LegalRef != "" {
				cited++
			}
		}
		if !codes[GroundOther] {
			t.Errorf("%s: no %q ground", name, GroundOther)
		}
		if pr.GenericGrounds != (cited == 0) {
			t.Errorf("%s: generic %v but %d grounds cite a law", name, pr.GenericGrounds, cited)
		}
		if pr.GenericGrounds && !strings.Contains(pr.Note, "plain set") {
			t.Errorf("%s: note does not say its grounds are generic", name)
		}
	}
	kz := GroundsOf("kz")
	for _, g := range kz {
		if g.Code == GroundManifestlyUnfounded || g.Code == GroundExcessive {
			t.Errorf("kz offers the GDPR ground %s", g.Code)
		}
	}
	if RuleSetOf("kz.consent_withdrawal") != "kz" || RuleSetOf("gdpr.one_month.extended") != "gdpr" || RuleSetOf("operator.promise") != "" {
		t.Error("RuleSetOf does not read the preset from a rule id")
	}
}
