package signing

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestSignedMessageVerifiesAndATamperedOneDoesNot(t *testing.T) {
	now := time.Date(2026, 3, 20, 10, 0, 0, 0, time.UTC)
	body := []byte(`{"id":"RD-1","status":"done"}`)
	h := http.Header{}
	Sign(h, "s3cret", body, now)
	if err := Verify(h, "s3cret", body, now.Add(time.Minute)); err != nil {
		t.Fatalf("a message just signed does not verify: %v", err)
	}
	if err := Verify(h, "s3cret", []byte(`{"id":"RD-1","status":"failed"}`), now); !errors.Is(err, ErrBadSignature) {
		t.Errorf("changed body: err = %v, want ErrBadSignature", err)
	}
	if err := Verify(h, "other", body, now); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other secret: err = %v, want ErrBadSignature", err)
	}
	if err := Verify(h, "s3cret", body, now.Add(MaxAge+time.Second)); !errors.Is(err, ErrStale) {
		t.Errorf("replayed later: err = %v, want ErrStale", err)
	}
	if err := Verify(http.Header{}, "s3cret", body, now); !errors.Is(err, ErrUnsigned) {
		t.Errorf("no headers: err = %v, want ErrUnsigned", err)
	}
}

func TestSignatureIsTheDocumentedHMAC(t *testing.T) {
	// docs/api.md: "sha256=" and the hex HMAC-SHA256 of "<timestamp>.<body>";
	// the value below is openssl's (printf '1700000000.{}' | openssl dgst -sha256 -hmac key).
	got := Signature("key", "1700000000", []byte("{}"))
	if want := "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"; got != want {
		t.Fatalf("Signature = %q, want %q", got, want)
	}
}
