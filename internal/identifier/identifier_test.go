package identifier

import "testing"

func TestPhoneIsMatchedByItsLastTenDigits(t *testing.T) {
	for in, want := range map[string]string{
		"+7 701 123 45 67":  "7011234567",
		"8 (701) 123-45-67": "7011234567",
		"701.123.45.67":     "7011234567",
		"12345":             "",
		"+7 701 CALL ME":    "",
		"":                  "",
	} {
		if got := Phone(in); got != want {
			t.Errorf("Phone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEmailIsTrimmedComposedAndLowerCased(t *testing.T) {
	// Cyrillic "Е" followed by a combining diaeresis composes to "Ё".
	if got, want := Email("  Aigerim.\u0415\u0308@Example.KZ "), "aigerim.ё@example.kz"; got != want {
		t.Errorf("Email = %q, want %q", got, want)
	}
}

func TestAccountIDKeepsItsCase(t *testing.T) {
	if got := AccountID(" Stu-00042 "); got != "Stu-00042" {
		t.Errorf("AccountID = %q", got)
	}
}

func TestIdentityWithOnlyABadPhoneIsEmpty(t *testing.T) {
	if !(Identity{Phone: "call me"}).Empty() {
		t.Error("an identity whose only identifier is no phone number matches something")
	}
	if (Identity{AccountID: "s1"}).Empty() {
		t.Error("an identity with an account id is empty")
	}
}
