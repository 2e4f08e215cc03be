package request

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Signer signs values the portal hands out and recognises later without
// storing them (the keyring, under ENCRYPTION_KEY).
type Signer interface {
	Sign(purpose string, msg []byte) []byte
	Verify(purpose string, msg, sig []byte) bool
}

// ReceiptFor is how long the thank-you page of a submission can be opened
// again (a reload, the back button, printing it).
const ReceiptFor = time.Hour

// receiptPurpose is what receipt signatures are made for.
const receiptPurpose = "thank-you page v1"

// Receipts issue and check the address of the thank-you page. That address
// is what the browser that filed a request holds, and whoever filed it may
// not be the person whose address it names, so it grants nothing but the
// page itself: the reference, type and dates of that one request, for an
// hour. It is a signed value, not a link stored with the request: it opens
// no status page, reply, withdrawal or file, and the status links (sent
// only by email) are never derived from it.
type Receipts struct {
	Signer Signer
	Clock  Clock
}

// Issue returns the receipt value for a request just filed:
// "<reference>.<expiry, Unix seconds>.<signature>".
func (rc Receipts) Issue(reference string) string {
	msg := reference + "." + strconv.FormatInt(rc.Clock.Now().Add(ReceiptFor).Unix(), 10)
	return msg + "." + base64.RawURLEncoding.EncodeToString(rc.Signer.Sign(receiptPurpose, []byte(msg)))
}

// Check returns the reference a receipt value names. A value that was not
// issued here is ErrNotFound; one past its hour is ErrLinkExpired.
func (rc Receipts) Check(value string) (string, error) {
	if rc.Signer == nil || len(value) > 200 {
		return "", ErrNotFound
	}
	i := strings.LastIndexByte(value, '.')
	if i < 0 {
		return "", ErrNotFound
	}
	msg, encoded := value[:i], value[i+1:]
	sig, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil || !rc.Signer.Verify(receiptPurpose, []byte(msg), sig) {
		return "", ErrNotFound
	}
	reference, expiry, ok := strings.Cut(msg, ".")
	until, err := strconv.ParseInt(expiry, 10, 64)
	if !ok || err != nil {
		return "", ErrNotFound
	}
	if rc.Clock.Now().After(time.Unix(until, 0)) {
		return reference, ErrLinkExpired
	}
	return reference, nil
}
