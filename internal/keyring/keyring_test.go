package keyring_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"rightsdesk/internal/keyring"
)

func mustParse(t *testing.T, s string) *keyring.Keyring {
	t.Helper()
	kr, err := keyring.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestSealOpens(t *testing.T) {
	kr := mustParse(t, keyring.Generate())
	plain := "Әлия Жұмабекова, ИИН 880101400123"
	a, b := kr.SealString("requests.personal", plain), kr.SealString("requests.personal", plain)
	if bytes.Equal(a, b) {
		t.Error("the same text sealed twice gives the same bytes: the nonce is not random")
	}
	if bytes.Contains(a, []byte("Жұмабекова")) {
		t.Error("the sealed value holds the text")
	}
	got, err := kr.OpenString("requests.personal", a)
	if err != nil || got != plain {
		t.Fatalf("open = %q, %v", got, err)
	}
	if v := kr.SealString("x", ""); len(v) != 0 {
		t.Errorf("empty sealed to %d bytes", len(v))
	}
	if got, err := kr.OpenString("x", nil); got != "" || err != nil {
		t.Errorf("nil opened to %q, %v", got, err)
	}
}

func TestSealedValueRefusesAnotherColumnAndTampering(t *testing.T) {
	kr := mustParse(t, keyring.Generate())
	v := kr.SealString("messages.body", "hello")
	if _, err := kr.Open("notes.body", v); !errors.Is(err, keyring.ErrCorrupt) {
		t.Errorf("opened in another column: %v", err)
	}
	for i := range v {
		bad := bytes.Clone(v)
		bad[i] ^= 0x01
		if _, err := kr.Open("messages.body", bad); err == nil {
			t.Fatalf("a flipped bit at %d went unnoticed", i)
		}
	}
	if _, err := kr.Open("messages.body", v[:10]); !errors.Is(err, keyring.ErrCorrupt) {
		t.Errorf("a truncated value: %v", err)
	}
}

// TestRotation: a new key first, the old one after, opens both; without
// the old key the old values name their unknown key.
func TestRotation(t *testing.T) {
	oldKey, newKey := keyring.Generate(), keyring.Generate()
	before := mustParse(t, oldKey)
	during := mustParse(t, newKey+", "+oldKey)
	after := mustParse(t, newKey)
	old := before.SealString("c", "старое")
	fresh := during.SealString("c", "новое")
	if during.Current(old) || !during.Current(fresh) || !during.Current(nil) {
		t.Error("Current does not tell old from new")
	}
	for _, v := range [][]byte{old, fresh} {
		if _, err := during.Open("c", v); err != nil {
			t.Errorf("during rotation: %v", err)
		}
	}
	if _, err := after.Open("c", old); !errors.Is(err, keyring.ErrUnknownKey) {
		t.Errorf("the old key removed: %v", err)
	}
	if during.CurrentID() != after.CurrentID() || during.IDs()[1] != before.CurrentID() {
		t.Errorf("ids %v, %v, %v", during.IDs(), before.IDs(), after.IDs())
	}
}

func TestSignaturesHoldAcrossRotationAndCatchChanges(t *testing.T) {
	oldKey, newKey := keyring.Generate(), keyring.Generate()
	before, during, after := mustParse(t, oldKey), mustParse(t, newKey+","+oldKey), mustParse(t, newKey)
	msg := []byte("device 7 epoch 3")
	sig := before.Sign("device", msg)
	if !during.Verify("device", msg, sig) || after.Verify("device", msg, sig) {
		t.Error("a signature must verify while its key is configured, and only then")
	}
	if !after.Verify("device", msg, during.Sign("device", msg)) {
		t.Error("the current key signs")
	}
	if before.Verify("device", []byte("device 8 epoch 3"), sig) || before.Verify("device", msg, sig[:31]) {
		t.Error("a changed message or a cut signature verifies")
	}
	// The signing key is none of the others: a blind index term of the
	// same bytes is not the signature's beginning.
	if bytes.HasPrefix(sig, before.Term(string(msg))) {
		t.Error("signing reuses the blind index key")
	}
}

func TestParseRefusesBadKeys(t *testing.T) {
	k := keyring.Generate()
	for _, s := range []string{"", "not base64!", "c2hvcnQ=", k + "," + k, k + ",,"} {
		if _, err := keyring.Parse(s); err == nil {
			t.Errorf("%q accepted", s)
		} else if strings.Contains(err.Error(), k) {
			t.Errorf("the error repeats the key: %v", err)
		}
	}
}

// matches says whether a request indexed with s is found by query.
func matches(kr *keyring.Keyring, s keyring.Searchable, query string) bool {
	index := kr.IndexTerms(s)
	groups := kr.QueryTerms(query)
	if len(groups) == 0 {
		return false
	}
	for _, g := range groups {
		if !slices.ContainsFunc(g, func(t []byte) bool {
			return slices.ContainsFunc(index, func(i []byte) bool { return bytes.Equal(i, t) })
		}) {
			return false
		}
	}
	return true
}

func TestSearchTerms(t *testing.T) {
	kr := mustParse(t, keyring.Generate())
	person := keyring.Searchable{
		Names:     []string{"Пётр Әл-Фараби", "Ли Мин"},
		Email:     "Petr.Al_Farabi@Example.kz",
		AccountID: "ACC-7731",
		Phone:     "+7 (701) 123-45-67",
	}
	for _, tt := range []struct {
		query string
		want  bool
	}{
		{"петр", true},         // ё is е
		{"ПЁТР", true},         // and upper case folds
		{"пёт", true},          // a beginning of three letters
		{"пё", false},          // two letters are too few to be a beginning
		{"ли", true},           // but a whole two-letter name is a name
		{"фараби", true},       // a part of a hyphenated name
		{"әл-фараби", true},    // and the whole of it
		{"ара", false},         // the middle of a word is not a beginning
		{"петр фараби", true},  // every word must match
		{"петр иванов", false}, // and one that does not fails the search
		{"мин", true},          // the person acted for
		{"petr.al_farabi@example.KZ", true},
		{"petr.al_farabi", true}, // the part before the @
		{"petr.al_farabi@", true},
		{"@example.kz", false},
		{"acc-7731", true},
		{"87011234567", true}, // 8 instead of +7
		{"+7 701 123 45 67", true},
		{"123-45-67", false}, // seven digits are not the whole number
		{"...", false},
	} {
		if got := matches(kr, person, tt.query); got != tt.want {
			t.Errorf("%q: found %v, want %v", tt.query, got, tt.want)
		}
	}
}

// TestSearchDuringRotation: rows indexed under the old key are still found
// while both keys are configured.
func TestSearchDuringRotation(t *testing.T) {
	oldKey, newKey := keyring.Generate(), keyring.Generate()
	person := keyring.Searchable{Names: []string{"Айгерим Сапарова"}}
	oldIndex := mustParse(t, oldKey).IndexTerms(person)
	during := mustParse(t, newKey+","+oldKey)
	found := false
	for _, q := range during.QueryTerms("сапарова")[0] {
		if slices.ContainsFunc(oldIndex, func(i []byte) bool { return bytes.Equal(i, q) }) {
			found = true
		}
	}
	if !found {
		t.Error("a row indexed under the old key is not found during rotation")
	}
}

// TestSignaturesHoldForTheirPurposeAndAcrossRotation: a signature checks
// for its message and purpose only, under the key that made it, also while
// a newer key signs.
func TestSignaturesHoldForTheirPurposeAndAcrossRotation(t *testing.T) {
	oldKey, newKey := keyring.Generate(), keyring.Generate()
	before := mustParse(t, oldKey)
	sig := before.Sign("receipt", []byte("RD-7K4M-9QXT-2HV5.1772427600"))
	if !before.Verify("receipt", []byte("RD-7K4M-9QXT-2HV5.1772427600"), sig) {
		t.Fatal("a signature does not verify")
	}
	if before.Verify("receipt", []byte("RD-7K4M-9QXT-2HV5.1772427601"), sig) {
		t.Error("a signature verifies for another message")
	}
	if before.Verify("download", []byte("RD-7K4M-9QXT-2HV5.1772427600"), sig) {
		t.Error("a signature verifies for another purpose")
	}
	if bytes.Equal(sig, before.Term("RD-7K4M-9QXT-2HV5.1772427600")) || len(sig) != 32 {
		t.Error("signatures share the blind index key or are truncated")
	}
	during := mustParse(t, newKey+", "+oldKey)
	if !during.Verify("receipt", []byte("RD-7K4M-9QXT-2HV5.1772427600"), sig) {
		t.Error("a signature made before the rotation fails while the old key is kept")
	}
	if mustParse(t, newKey).Verify("receipt", []byte("RD-7K4M-9QXT-2HV5.1772427600"), sig) {
		t.Error("a signature verifies under a key that did not make it")
	}
}

// TestEachOperatorHasKeysOfItsOwn: under one ENCRYPTION_KEY, the same
// address has a different blind index term for each operator, a value one
// operator sealed opens with that operator's keyring alone (made again from
// the same key, as after a restart), and the default operator's keys are
// the deployment's own.
func TestEachOperatorHasKeysOfItsOwn(t *testing.T) {
	k := keyring.Generate()
	deployment := mustParse(t, k)
	if deployment.ForOperator(keyring.DefaultOperator) != deployment {
		t.Error("the default operator's keyring is not the deployment's")
	}
	two, three := deployment.ForOperator(2), deployment.ForOperator(3)
	term := keyring.EmailTerm("aigerim@example.kz")
	terms := [][]byte{deployment.Term(term), two.Term(term), three.Term(term)}
	for i := range terms {
		for j := i + 1; j < len(terms); j++ {
			if bytes.Equal(terms[i], terms[j]) {
				t.Errorf("operators %d and %d index the same address alike", i+1, j+1)
			}
		}
	}
	if slices.Contains(deployment.IDs(), two.CurrentID()) || two.CurrentID() == three.CurrentID() {
		t.Errorf("key ids %v, %v, %v: an operator's key is named like another's", deployment.IDs(), two.IDs(), three.IDs())
	}
	v := two.SealString("requests.personal", "Айгерим")
	for name, other := range map[string]*keyring.Keyring{"the deployment's": deployment, "operator 3's": three} {
		if got, err := other.OpenString("requests.personal", v); !errors.Is(err, keyring.ErrUnknownKey) {
			t.Errorf("%s keys opened operator 2's value: %q, %v", name, got, err)
		}
	}
	again := mustParse(t, k).ForOperator(2)
	if got, err := again.OpenString("requests.personal", v); err != nil || got != "Айгерим" {
		t.Errorf("operator 2's keyring made again opens %q, %v", got, err)
	}
	if !bytes.Equal(again.Term(term), two.Term(term)) {
		t.Error("operator 2's terms change from one start to the next")
	}
	if sig := two.Sign("receipt", []byte("RD-1")); three.Verify("receipt", []byte("RD-1"), sig) || !again.Verify("receipt", []byte("RD-1"), sig) {
		t.Error("an operator's signature is not its own")
	}
}

// TestOperatorKeysRotateWithTheDeployments: a new key put first gives every
// operator a new current key, and its old values still open and are still
// found until they are rewritten.
func TestOperatorKeysRotateWithTheDeployments(t *testing.T) {
	oldKey, newKey := keyring.Generate(), keyring.Generate()
	before := mustParse(t, oldKey).ForOperator(2)
	during := mustParse(t, newKey+","+oldKey).ForOperator(2)
	after := mustParse(t, newKey).ForOperator(2)
	old := before.SealString("c", "старое")
	if during.Current(old) || during.CurrentID() != after.CurrentID() || during.IDs()[1] != before.CurrentID() {
		t.Errorf("ids %v, %v, %v", before.IDs(), during.IDs(), after.IDs())
	}
	if got, err := during.OpenString("c", old); err != nil || got != "старое" {
		t.Errorf("during rotation: %q, %v", got, err)
	}
	term := keyring.EmailTerm("aigerim@example.kz")
	if !slices.ContainsFunc(during.Terms(term), func(b []byte) bool { return bytes.Equal(b, before.Term(term)) }) {
		t.Error("during rotation a search no longer finds what the old key indexed")
	}
}
