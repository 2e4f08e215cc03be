// Package signing is the one scheme by which rightsdesk signs what it sends
// to an operator's code and checks what comes back: an HMAC-SHA256 over
// "<timestamp>.<body>" under a shared secret, sent in two headers. Webhooks
// and the data map's HTTP connector both use it, so a receiver verifies
// either with the same few lines.
package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// The headers a signed message carries.
const (
	TimestampHeader = "X-Rightsdesk-Timestamp"
	SignatureHeader = "X-Rightsdesk-Signature"
)

// MaxAge is how old a signed message may be when it is verified, and how far
// in the future its timestamp may lie (clock skew): older ones are refused,
// which stops a recorded message from being replayed later.
const MaxAge = 5 * time.Minute

// Signature is the value of SignatureHeader for a body sent at timestamp
// (Unix seconds): "sha256=" and the hex HMAC-SHA256 of "<timestamp>.<body>"
// under secret.
func Signature(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Sign sets the timestamp and signature headers of a message with body,
// sent at now.
func Sign(h http.Header, secret string, body []byte, now time.Time) {
	ts := strconv.FormatInt(now.Unix(), 10)
	h.Set(TimestampHeader, ts)
	h.Set(SignatureHeader, Signature(secret, ts, body))
}

// Errors Verify returns.
var (
	ErrUnsigned     = errors.New("signing: the message carries no timestamp or signature")
	ErrBadSignature = errors.New("signing: the signature does not match")
	ErrStale        = errors.New("signing: the timestamp is too old or in the future")
)

// Verify checks that body, received at now with headers h, was signed with
// secret less than MaxAge ago. The comparison takes constant time.
func Verify(h http.Header, secret string, body []byte, now time.Time) error {
	ts, sig := h.Get(TimestampHeader), h.Get(SignatureHeader)
	if ts == "" || sig == "" {
		return ErrUnsigned
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrUnsigned
	}
	if !hmac.Equal([]byte(Signature(secret, ts, body)), []byte(sig)) {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(unix, 0)); d > MaxAge || d < -MaxAge {
		return ErrStale
	}
	return nil
}
