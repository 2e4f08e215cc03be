package request

import (
	"fmt"
	"strings"
)

// Type is the right a person exercises.
type Type string

// The request types, in the order the landing page lists them.
const (
	Access            Type = "access"
	Rectification     Type = "rectification"
	Erasure           Type = "erasure"
	Restriction       Type = "restriction"
	Objection         Type = "objection"
	ConsentWithdrawal Type = "consent_withdrawal"
	Portability       Type = "portability"
)

// AllTypes lists every type in display order.
func AllTypes() []Type {
	return []Type{Access, Rectification, Erasure, Restriction, Objection, ConsentWithdrawal, Portability}
}

// Valid reports whether t is a known type.
func (t Type) Valid() bool {
	for _, known := range AllTypes() {
		if t == known {
			return true
		}
	}
	return false
}

// NeedsProcessing reports whether the form asks which processing is meant.
func (t Type) NeedsProcessing() bool {
	return t == Restriction || t == Objection || t == ConsentWithdrawal
}

// ParseTypes reads a comma-separated list such as "access,erasure".
// An empty string means every type.
func ParseTypes(s string) ([]Type, error) {
	if strings.TrimSpace(s) == "" {
		return AllTypes(), nil
	}
	var out []Type
	seen := map[Type]bool{}
	for _, part := range strings.Split(s, ",") {
		t := Type(strings.TrimSpace(part))
		if !t.Valid() {
			return nil, fmt.Errorf("unknown request type %q (known: %s)", t, joinTypes(AllTypes()))
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}

func joinTypes(ts []Type) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// Locale is a language the portal speaks.
type Locale string

// The supported locales; Russian is the default.
const (
	Russian Locale = "ru"
	Kazakh  Locale = "kk"
	English Locale = "en"
)

// Locales lists the supported locales, default first.
func Locales() []Locale { return []Locale{Russian, Kazakh, English} }

// Valid reports whether l is supported.
func (l Locale) Valid() bool { return l == Russian || l == Kazakh || l == English }

// Relationship is how someone acting for another person is related to them.
type Relationship string

// The relationships a representative may state.
const (
	Parent         Relationship = "parent"
	Guardian       Relationship = "guardian"
	Representative Relationship = "representative"
)
