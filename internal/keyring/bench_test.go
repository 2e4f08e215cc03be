package keyring_test

import (
	"strings"
	"testing"

	"rightsdesk/internal/keyring"
)

// BenchmarkIntakeSealing is what sealing adds to one submission: the
// request's fields and search terms, and two stored emails.
func BenchmarkIntakeSealing(b *testing.B) {
	kr, err := keyring.Parse(keyring.Generate())
	if err != nil {
		b.Fatal(err)
	}
	person := keyring.Searchable{Names: []string{"Айгерим Нурланқызы Сапарова", ""}, Email: "aigerim.saparova@example.kz", Phone: "+7 701 123 45 67"}
	doc := []byte(strings.Repeat("д", 300))
	email := []byte(strings.Repeat("x", 2700))
	b.ReportAllocs()
	for b.Loop() {
		kr.Seal("requests.personal", doc)
		kr.IndexTerms(person)
		kr.Seal("emails.sealed", email)
		kr.Seal("emails.sealed", email)
	}
}
