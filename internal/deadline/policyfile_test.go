package deadline

import (
	"errors"
	"strings"
	"testing"
)

const examplePolicyFile = `
preset: kz
calendar: kz
promise:
  value: 30
  unit: calendar_days
types:
  access:
    value: 30
    unit: working_days
    start: confirmation
    extension: {value: 30, unit: calendar_days, max_uses: 1}
  consent_withdrawal:
    extension:
      value: 5
      unit: working_days
      legal_ref: "Operator's policy, section 7"
`

func TestPolicyFileOverridesAndPromise(t *testing.T) {
	f, err := LoadPolicyFile(strings.NewReader(examplePolicyFile))
	if err != nil {
		t.Fatal(err)
	}
	p := policy(t, "kz", WithPolicyFile(f))

	in := Input{Type: TypeAccess, ReceivedAt: at(t, "2026-02-27 10:00")}
	if _, err := p.Due(in); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("unconfirmed access: err = %v, want ErrNotStarted", err)
	}
	in.ConfirmedAt = at(t, "2026-03-02 10:00")
	got, err := p.Due(in)
	if err != nil {
		t.Fatal(err)
	}
	// 30 working days from 2 March is 17 April; the 30-day promise from
	// receipt (29 March) is earlier and wins.
	if want := endOf(t, "2026-03-29"); !got.DueAt.Equal(want) || got.Rule != PromiseRuleID {
		t.Errorf("access: %s %s, want %s %s", got.DueAt, got.Rule, want, PromiseRuleID)
	}

	cw := Input{Type: TypeConsentWithdrawal, ReceivedAt: at(t, "2026-03-20 12:00")}
	cur, err := p.Due(cw)
	if err != nil || cur.Rule != "kz.consent_withdrawal" {
		t.Fatalf("consent withdrawal: %+v, %v", cur, err)
	}
	ext, err := p.Extend(cw, cur, cw.ReceivedAt, "large archive")
	if err != nil {
		t.Fatal(err)
	}
	// 15 April + 5 working days.
	if want := endOf(t, "2026-04-22"); !ext.DueAt.Equal(want) || ext.LegalRef != "Operator's policy, section 7" {
		t.Errorf("extended: %s %q, want %s", ext.DueAt, ext.LegalRef, want)
	}
}

func TestPolicyFileWithPeriodBecomesTheOperatorsRule(t *testing.T) {
	f, err := LoadPolicyFile(strings.NewReader("types:\n  erasure: {value: 20, unit: calendar_days}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := policy(t, "gdpr", WithPolicyFile(f)).Due(Input{Type: TypeErasure, ReceivedAt: at(t, "2026-01-10 10:00")})
	if err != nil {
		t.Fatal(err)
	}
	if want := endOf(t, "2026-01-30"); !got.DueAt.Equal(want) || got.Rule != "policy.erasure" || got.LegalRef != "" {
		t.Errorf("got %s %q %q", got.DueAt, got.Rule, got.LegalRef)
	}
}

func TestPolicyFileForAnotherPresetIsRefused(t *testing.T) {
	f, err := LoadPolicyFile(strings.NewReader("preset: gdpr\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewPolicy("kz", almaty(t), WithPolicyFile(f)); err == nil {
		t.Error("no error")
	}
}

func TestPolicyFileOverrideWithoutPeriodNeedsAPresetRule(t *testing.T) {
	f, err := LoadPolicyFile(strings.NewReader("types:\n  access: {start: confirmation}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewPolicy("kz", almaty(t), WithPolicyFile(f))
	if err == nil || !strings.Contains(err.Error(), "types.access") {
		t.Errorf("err = %v, want it to name types.access", err)
	}
}

// Every error is one line that names the line and the key or value at
// fault, and what is wanted there.
func TestPolicyFileErrorsNameTheKeyAndLine(t *testing.T) {
	tests := []struct{ file, want string }{
		{"presets: kz\n", `line 1: unknown key "presets": want preset, calendar, promise, types`},
		{"preset: eu\n", `preset: unknown deadline preset "eu"`},
		{"types:\n  acess: {value: 1, unit: months}\n", `line 2: unknown key "acess": want access, rectification,`},
		{"types:\n  access: {vaule: 1, unit: months}\n", `line 2: unknown key "vaule": want value, unit, start, extension, legal_ref`},
		{"types:\n  access: {value: 1}\n", `types.access: give both value and unit`},
		{"types:\n  access: {value: 1, unit: days}\n", `types.access: unit "days"`},
		{"types:\n  access: {value: 0, unit: months}\n", `types.access: value 0`},
		{"types:\n  access: {value: ten, unit: months}\n", `line 2: "ten": want a whole number`},
		{"types:\n  access: {start: grounds_confirmed}\n", `types.access.start: "grounds_confirmed"`},
		{"types:\n  access:\n    extension: {value: 2}\n", `types.access.extension: give both value and unit`},
		{"types:\n  access:\n    extension: {value: 2, unit: months, max_uses: 0}\n", `types.access.extension.max_uses: 0`},
		{"types:\n  access:\n    extension: {value: 2, unit: months, uses: 2}\n", `line 3: unknown key "uses": want value, unit, max_uses, legal_ref`},
		{"types:\n  access:\n    extension: never\n", `line 3: extension "never": want none or a mapping`},
		{"promise: {unit: months}\n", `promise: give both value and unit`},
		{"promise: {start: receipt}\n", `promise: value and unit are required`},
		{"promise: {value: 1, unit: months, legal_ref: x}\n", `line 1: unknown key "legal_ref": want value, unit, start, extension`},
		{"calendar: mars\n", `line 1: calendar "mars": want kz, weekdays or a calendar mapping`},
		{"calendar: {name: X, fixd: []}\n", `line 1: unknown key "fixd": want name, code, base,`},
		{"calendar:\n  name: X\n  fixed:\n    - {date: \"02-30\", name: A}\n", `line 4: date "02-30": want MM-DD`},
		{"types: [access]\n", `line 1: want a mapping of access,`},
		{"preset: kz\npreset: kz\n", `line 2: key "preset" given twice (first on line 1)`},
		{"- a\n", `line 1: want a mapping of preset, calendar, promise, types`},
		{"preset: [\n", `invalid YAML`},
		{"", `empty file`},
	}
	for _, tt := range tests {
		_, err := LoadPolicyFile(strings.NewReader(tt.file))
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("file %q:\n err = %v\nwant one line containing %q", tt.file, err, tt.want)
		}
	}
}

func TestPolicyFileCanRemoveAnExtension(t *testing.T) {
	f, err := LoadPolicyFile(strings.NewReader("types:\n  access: {extension: none}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := policy(t, "gdpr", WithPolicyFile(f))
	in := Input{Type: TypeAccess, ReceivedAt: at(t, "2026-01-10 10:00")}
	cur, _ := p.Due(in)
	if _, err := p.Extend(in, cur, in.ReceivedAt, "x"); !errors.Is(err, ErrNoExtension) {
		t.Errorf("err = %v, want ErrNoExtension", err)
	}
}

func FuzzLoadPolicyFile(f *testing.F) {
	f.Add(examplePolicyFile)
	f.Add("calendar:\n  base: kz\n  years:\n    2027: {days_off: [2027-01-08], working_days: [2027-01-16]}\n")
	f.Add("calendar:\n  name: X\n  weekend: [friday]\n  move_weekend_holidays: true\n  fixed: [{date: \"02-29\", name: L}]\n  moving: [{name: M, move: false, dates: [2026-01-03]}]\n")
	f.Add("a: &a [*a]\n")
	f.Add(string(KazakhstanData()))
	f.Fuzz(func(t *testing.T, file string) {
		pf, err := LoadPolicyFile(strings.NewReader(file))
		if err != nil {
			return
		}
		p, err := NewPolicy("kz", almaty(t), WithPolicyFile(pf))
		if err != nil {
			return
		}
		for _, typ := range RequestTypes() {
			in := Input{Type: typ, ReceivedAt: at(t, "2026-03-20 12:00"), ConfirmedAt: at(t, "2026-03-21 12:00")}
			r, err := p.Due(in)
			if err == nil && r.DueAt.Before(in.ReceivedAt) {
				t.Errorf("%s due %s before receipt", typ, r.DueAt)
			}
		}
	})
}

func FuzzLoadCalendar(f *testing.F) {
	f.Add(string(KazakhstanData()))
	f.Add("base: kz\nyears:\n  2027: {days_off: [2027-01-08]}\n")
	f.Add("name: X\nweekend: [friday, saturday]\nfixed: [{date: \"01-01\", name: N}]\n")
	f.Fuzz(func(t *testing.T, file string) {
		cal, err := LoadCalendar(strings.NewReader(file))
		if err != nil {
			return
		}
		d := NewDate(2026, 1, 1)
		for i := 0; i < 400; i++ {
			cal.IsWorkingDay(d.AddDays(i))
		}
	})
}
