package datamap

import (
	"errors"
	"strings"
	"testing"
)

// base is a small valid map; each case below changes one thing in it.
const base = `version: 1
identities: [email]
purposes:
  study: {ru: Обучение, kk: Оқу, en: Studies}
reasons:
  tax_law: {ru: Налоги, kk: Салық, en: Tax law}
systems:
  lms:
    kind: postgres
    read_url_env: LMS_DATABASE_URL
collections:
  students:
    system: lms
    table: students
    key: id
    identity:
      email: email
    fields:
      email: {category: contact, purpose: study, erase: "null"}
  payments:
    system: lms
    table: payments
    relations:
      - field: student_id
        references: students.id
    fields:
      amount: {category: financial, purpose: study, erase: keep, reason: tax_law, keep_for: 5y}
`

func TestBaseMapIsValid(t *testing.T) {
	m, err := Parse("m.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Collection("payments").Relations[0].To; got != m.Collection("students") {
		t.Errorf("relation leads to %v", got)
	}
	if got := m.Collection("payments").Fields[0].KeepFor; got != (Period{5, "y"}) {
		t.Errorf("keep_for = %v", got)
	}
}

// TestMapMistakesAreRefusedWithTheirLine: every mistake gives one line
// naming the file, the line and what is wrong.
func TestMapMistakesAreRefusedWithTheirLine(t *testing.T) {
	cases := []struct {
		name, from, to string
		want           string // one of the error lines, whole
	}{
		{"unknown top-level key", "version: 1\n", "version: 1\ncolour: blue\n",
			`m.yaml:2: unknown key "colour"`},
		{"unknown key in a field", `erase: "null"}`, `erase: "null", secret: x}`,
			`m.yaml:19: unknown key "secret"`},
		{"wrong version", "version: 1", "version: 2",
			"m.yaml:1: version: want 1, got 2"},
		{"unknown system kind", "kind: postgres", "kind: oracle",
			`m.yaml:9: system lms: unknown kind "oracle" (known: postgres, mysql, http)`},
		{"a URL instead of a variable name", "read_url_env: LMS_DATABASE_URL", "read_url_env: postgres://u:p@db/lms",
			`m.yaml:10: system lms: read_url_env "postgres://u:p@db/lms" is not an environment variable name (upper-case letters, digits and _): the map names variables and never holds secrets`},
		{"missing read credentials", "    read_url_env: LMS_DATABASE_URL\n", "",
			"m.yaml:8: system lms: read_url_env is required: the name of the environment variable that holds it (never the value itself)"},
		{"change credentials the same as read", "read_url_env: LMS_DATABASE_URL\n", "read_url_env: LMS_DATABASE_URL\n    change_url_env: LMS_DATABASE_URL\n",
			"m.yaml:11: system lms: change_url_env is read_url_env: gathering runs with credentials that can only read, so give changes their own"},
		{"unknown category", "category: contact", "category: secrets",
			`m.yaml:19: collection students, field email: unknown category "secrets" (known: identity, contact, account, education, financial, communication, activity, special)`},
		{"unknown purpose", "category: contact, purpose: study", "category: contact, purpose: fun",
			`m.yaml:19: collection students, field email: unknown purpose "fun" (define it under purposes, in ru, kk and en)`},
		{"purpose missing a language", "study: {ru: Обучение, kk: Оқу, en: Studies}", "study: {ru: Обучение, en: Studies}",
			"m.yaml:4: purposes study: kk is missing: requesters read it in Russian, Kazakh and English"},
		{"unknown erasure", `erase: "null"}`, `erase: shred}`,
			`m.yaml:19: collection students, field email: unknown erase "shred" (known: null, value, hash, delete, keep)`},
		{"keep without a reason", "erase: keep, reason: tax_law, keep_for: 5y", "erase: keep, keep_for: 5y",
			"m.yaml:27: collection payments, field amount: erase: keep needs the reason (one of reasons: the law or duty that requires keeping it)"},
		{"keep with an unknown reason", "reason: tax_law", "reason: whim",
			`m.yaml:27: collection payments, field amount: unknown reason "whim" (define it under reasons, in ru, kk and en)`},
		{"keep without how long", "reason: tax_law, keep_for: 5y", "reason: tax_law",
			"m.yaml:27: collection payments, field amount: erase: keep needs keep_for, how long it is kept (e.g. 5y)"},
		{"keep for a bad period", "keep_for: 5y", "keep_for: five years",
			`m.yaml:27: collection payments, field amount: keep_for "five years": want whole years, months or days such as 5y, 6m or 30d`},
		{"value without the value", `erase: "null"}`, `erase: value}`,
			`m.yaml:19: collection students, field email: erase: value needs the value, e.g. value: "deleted" (for NULL write erase: null)`},
		{"hash without a key", "    key: id\n", "",
			"m.yaml:18: collection students, field email: a keyed hash is computed row by row: give the collection's key (its primary key column)"},
		{"delete beside keep", "amount: {category: financial", "note: {category: financial, purpose: study, erase: delete}\n      amount: {category: financial",
			"m.yaml:28: collection payments: field amount is kept, so the rows cannot be deleted (field note says delete)"},
		{"relation to an unknown collection", "references: students.id", "references: pupils.id",
			`m.yaml:24: collection payments: relation student_id: unknown collection "pupils"`},
		{"relation to an unknown field", "references: students.id", "references: students.uid",
			"m.yaml:24: collection payments: relation student_id: unknown field students.uid (a relation leads to the other collection's key, an identity column or a field)"},
		{"relation without a column", "references: students.id", "references: students",
			`m.yaml:24: collection payments: relation student_id: references must be collection.column, got "students"`},
		{"a collection referencing itself", "references: students.id", "references: payments.amount",
			"m.yaml:24: collection payments: relation student_id: a collection cannot reference itself: its other rows belong to other people"},
		{"identity not in identities", "      email: email\n", "      phone: email\n",
			"m.yaml:17: collection students: identity: phone is not in identities"},
		{"unknown identifier", "identities: [email]", "identities: [email, passport]",
			`m.yaml:2: identities: unknown identifier "passport" (known: email, phone, account_id)`},
		{"an identity no collection is reached from", "identities: [email]", "identities: [email, phone]",
			"m.yaml:2: identities: phone is matched by no collection: give a collection an identity column for it, or drop it"},
		{"identity column not a field", "      email: email\n    fields:", "      email: mail\n    fields:",
			"m.yaml:17: collection students: identity column mail is not among the fields: list it, with what erasure does to it"},
		{"a collection no identity reaches", "      - field: student_id\n        references: students.id\n", "",
			"m.yaml:20: collection payments is reached from no identity: give it identity columns or a relation to a collection that has them"},
		{"unknown system in a collection", "    system: lms\n    table: payments", "    system: crm\n    table: payments",
			`m.yaml:21: collection payments: unknown system "crm"`},
		{"a table mapped twice", "table: payments", "table: students",
			"m.yaml:22: collection payments: table students is also collection students; one collection per table"},
		{"restriction with neither set nor http", "    key: id\n", "    key: id\n    restriction: {}\n",
			"m.yaml:16: collection students: restriction: give set (a column) and value, or http (a system of kind http)"},
		{"restriction set without a value", "    key: id\n", "    key: id\n    restriction: {set: restricted}\n",
			"m.yaml:16: collection students: restriction: set needs the value the column takes, e.g. value: true"},
		{"withdrawal calling a database", "    key: id\n", "    key: id\n    consent_withdrawal: {http: lms}\n",
			"m.yaml:16: collection students: consent_withdrawal: system lms is kind postgres, not http"},
		{"withdrawal calling an unknown system", "    key: id\n", "    key: id\n    consent_withdrawal: {http: mailer}\n",
			`m.yaml:16: collection students: consent_withdrawal: unknown system "mailer"`},
		{"an http system nothing calls", "collections:\n", "  mailer: {kind: http, url_env: MAILER_URL, secret_env: MAILER_SECRET}\ncollections:\n",
			"m.yaml:11: system mailer is called by no restriction or consent_withdrawal"},
		{"an http system without its secret", "collections:\n", "  mailer: {kind: http, url_env: MAILER_URL}\ncollections:\n",
			"m.yaml:11: system mailer: secret_env is required: the name of the environment variable that holds it (never the value itself)"},
		{"a collection in an http system", "collections:\n  students:\n    system: lms", "  mailer: {kind: http, url_env: MAILER_URL, secret_env: MAILER_SECRET}\ncollections:\n  students:\n    system: mailer",
			"m.yaml:14: collection students: system mailer is kind http, which holds no tables; name it in a restriction or consent_withdrawal action instead"},
		{"a field without erase", `, erase: "null"}`, "}",
			"m.yaml:19: collection students, field email: erase is required (null, value, hash, delete or keep)"},
		{"a list where a mapping goes", "  study: {ru: Обучение, kk: Оқу, en: Studies}", "  study: [Обучение]",
			`m.yaml:4: a list is not allowed here, want a mapping`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := base
			if tc.from != "" {
				if !strings.Contains(src, tc.from) {
					t.Fatalf("case does not apply: base has no %q", tc.from)
				}
				src = strings.Replace(src, tc.from, tc.to, 1)
			}
			if tc.name == "hash without a key" {
				src = strings.Replace(src, `erase: "null"}`, "erase: hash}\nhash_key_env: K", 1)
				src = strings.Replace(src, "\nhash_key_env: K", "", 1)
				src = "hash_key_env: HASH_KEY\n" + src
				tc.want = strings.Replace(tc.want, "m.yaml:18:", "m.yaml:19:", 1)
			}
			_, err := Parse("m.yaml", []byte(src))
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse = %v, want an *Error", err)
			}
			for _, l := range perr.Lines() {
				if l == tc.want {
					return
				}
			}
			t.Errorf("no line\n  %s\namong\n  %s", tc.want, strings.Join(perr.Lines(), "\n  "))
		})
	}
}

func TestRelationCycleIsRefused(t *testing.T) {
	src := strings.Replace(base, "    key: id\n", "    key: id\n    relations:\n      - field: id\n        references: payments.student_id\n", 1)
	src = strings.Replace(src, "      - field: student_id\n", "      - field: student_id\n", 1)
	_, err := Parse("m.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "relations form a cycle students → payments → students") {
		t.Fatalf("err = %v, want the cycle named", err)
	}
}

func TestEveryMistakeIsReportedNotOnlyTheFirst(t *testing.T) {
	src := strings.Replace(base, "category: contact", "category: secrets", 1)
	src = strings.Replace(src, "keep_for: 5y", "keep_for: forever", 1)
	_, err := Parse("m.yaml", []byte(src))
	var perr *Error
	if !errors.As(err, &perr) || len(perr.Problems) != 2 {
		t.Fatalf("err = %v, want two lines", err)
	}
}

func TestChangeOrderPutsChildrenBeforeParents(t *testing.T) {
	src := base + `  receipts:
    system: lms
    table: receipts
    relations:
      - field: payment_id
        references: payments.amount
    fields:
      number: {category: financial, purpose: study, erase: "null"}
`
	m, err := Parse("m.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range m.System("lms").ChangeOrder() {
		got = append(got, c.Name)
	}
	if strings.Join(got, " ") != "receipts payments students" {
		t.Errorf("ChangeOrder = %v, want receipts payments students", got)
	}
}
