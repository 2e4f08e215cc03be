// Package identifier holds the forms in which rightsdesk compares what a
// person is found by — an email address, a phone number, an account id —
// so that intake, the staff search and the data map all match a person the
// same way.
package identifier

import (
	"strings"

	"golang.org/x/text/unicode/norm"
)

// Clean is text as a person typed it, made comparable: surrounding space
// trimmed and Unicode composed (NFC), so lookalike sequences compare equal.
func Clean(s string) string { return norm.NFC.String(strings.TrimSpace(s)) }

// Email is the form an email address is matched in: Clean, then lower case.
// Mail systems treat the local part as case-insensitive in practice, and
// people type their address in whatever case their keyboard gives.
func Email(s string) string { return strings.ToLower(Clean(s)) }

// AccountID is the form an account id (a login, a student number) is
// matched in: Clean, case kept, since operators' systems compare ids exactly.
func AccountID(s string) string { return Clean(s) }

// PhoneMatchDigits is how many trailing digits identify a phone number.
const PhoneMatchDigits = 10

// Phone is the last ten digits of a phone number, so that +7 701 …,
// 8 701 … and 701 … are one number; "" when it has fewer than seven digits
// or anything but digits, spaces and the usual punctuation (+ - ( ) . /).
func Phone(s string) string {
	var d []rune
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			d = append(d, r)
		case strings.ContainsRune(" +-()./", r):
		default:
			return ""
		}
	}
	if len(d) < 7 {
		return ""
	}
	if len(d) > PhoneMatchDigits {
		d = d[len(d)-PhoneMatchDigits:]
	}
	return string(d)
}

// Kind names one way of finding a person.
type Kind string

// The kinds of identifier a data map may match rows by.
const (
	KindEmail     Kind = "email"
	KindPhone     Kind = "phone"
	KindAccountID Kind = "account_id"
)

// Kinds lists every kind, in the order rightsdesk shows and tries them.
func Kinds() []Kind { return []Kind{KindEmail, KindPhone, KindAccountID} }

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindEmail, KindPhone, KindAccountID:
		return true
	}
	return false
}

// Identity is what a request established about its requester: the
// identifiers rows are matched by. Empty fields match nothing.
type Identity struct {
	Email     string `json:"email,omitempty"`
	Phone     string `json:"phone,omitempty"`
	AccountID string `json:"account_id,omitempty"`
}

// Normalized returns the identity in its matching forms; a phone that is no
// phone number is dropped.
func (id Identity) Normalized() Identity {
	return Identity{Email: Email(id.Email), Phone: Phone(id.Phone), AccountID: AccountID(id.AccountID)}
}

// Value returns the normalized identifier of a kind, "" when there is none.
func (id Identity) Value(k Kind) string {
	n := id.Normalized()
	switch k {
	case KindEmail:
		return n.Email
	case KindPhone:
		return n.Phone
	case KindAccountID:
		return n.AccountID
	}
	return ""
}

// Empty reports whether the identity matches nothing.
func (id Identity) Empty() bool {
	n := id.Normalized()
	return n.Email == "" && n.Phone == "" && n.AccountID == ""
}
