package request

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
)

// A reference is what a person reads aloud on the phone or types into a form:
// "RD-" and eleven random Crockford base32 symbols (55 bits, so references can
// be neither guessed nor enumerated) plus one check symbol that catches any
// single mistyped or misheard character, grouped by four: RD-7K4M-9QXT-2HV9.

const (
	referencePrefix = "RD"
	crockford       = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	referenceChars  = 11
)

// ErrInvalidReference is returned for text that is not a well-formed reference.
var ErrInvalidReference = errors.New("not a valid reference")

// NewReference draws a fresh random reference from r (crypto/rand when nil).
func NewReference(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	buf := make([]byte, referenceChars)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", fmt.Errorf("read random reference: %w", err)
	}
	symbols := make([]byte, referenceChars)
	for i, b := range buf {
		symbols[i] = crockford[b&31] // 256 is a multiple of 32: no bias
	}
	return format(string(symbols) + string(checkSymbol(string(symbols)))), nil
}

// ParseReference normalises what a person typed (any case, missing or extra
// dashes and spaces, O for 0, I and L for 1) and verifies the check symbol.
func ParseReference(s string) (string, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, referencePrefix)
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '-', ' ', '\u2013', '\u2014':
			continue
		case 'O':
			c = '0'
		case 'I', 'L':
			c = '1'
		}
		b.WriteRune(c)
	}
	body := b.String()
	if len(body) != referenceChars+1 {
		return "", ErrInvalidReference
	}
	for _, c := range body[:referenceChars] {
		if !strings.ContainsRune(crockford, c) {
			return "", ErrInvalidReference
		}
	}
	if body[referenceChars] != checkSymbol(body[:referenceChars]) {
		return "", ErrInvalidReference
	}
	return format(body), nil
}

// checkSymbol weights each symbol by an odd number: odd weights are
// invertible mod 32, so changing any one symbol always changes the check.
// (Crockford's own mod-37 check needs symbols like '*' that are awkward to
// read aloud.)
func checkSymbol(symbols string) byte {
	var sum int
	for i, c := range symbols {
		sum += (2*i + 1) * strings.IndexRune(crockford, c)
	}
	return crockford[sum%32]
}

func format(body string) string {
	return referencePrefix + "-" + body[0:4] + "-" + body[4:8] + "-" + body[8:12]
}
