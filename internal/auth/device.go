package auth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"time"
)

// Signer signs what the server hands out and reads back, and checks it
// (the keyring: a subkey of ENCRYPTION_KEY, so every instance agrees).
type Signer interface {
	Sign(purpose string, msg []byte) []byte
	Verify(purpose string, msg, sig []byte) bool
}

// Device cookies follow OWASP's "Slow Down Online Guessing Attacks with
// Device Cookies": after a complete sign-in the browser gets a signed entry
// naming the account, and a later sign-in to that account from that browser
// is a trusted client, throttled in a bucket of its own. An entry holds no
// secret of the account: it proves only that this browser signed in to it.
const (
	// DeviceCookie is the cookie's name; it is sent only to /staff/login.
	DeviceCookie = "rd_device"
	// DeviceFor is how long an entry is trusted after the sign-in that set it.
	DeviceFor = 90 * 24 * time.Hour
	// devicesKept is how many accounts one browser is trusted for (a shared
	// computer): the newest sign-ins win.
	devicesKept = 4
)

const (
	// devicePurpose is what the cookie's signatures are for (keyring.Sign).
	devicePurpose = "staff device"
	deviceVersion = 1
	deviceNonce   = 16
	// version, staff id, session epoch, expiry, nonce
	devicePayload = 1 + 8 + 8 + 8 + deviceNonce
)

// device is one entry of the cookie.
type device struct {
	staffID, epoch int64
	expires        time.Time
	nonce          []byte
}

func (d device) payload() []byte {
	b := make([]byte, 0, devicePayload)
	b = append(b, deviceVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(d.staffID))        // #nosec G115 -- an id's bits, read back the same way
	b = binary.BigEndian.AppendUint64(b, uint64(d.epoch))          // #nosec G115 -- a counter's bits, read back the same way
	b = binary.BigEndian.AppendUint64(b, uint64(d.expires.Unix())) // #nosec G115 -- a time's bits, read back the same way
	return append(b, d.nonce...)
}

func (d device) encode(sig Signer) string {
	p := d.payload()
	return base64.RawURLEncoding.EncodeToString(p) + "." + base64.RawURLEncoding.EncodeToString(sig.Sign(devicePurpose, p))
}

// parseDevices reads the cookie's entries whose signature holds, in order;
// anything else in it is dropped.
func parseDevices(cookie string, sig Signer) []device {
	var out []device
	for i, part := range strings.Split(cookie, "~") {
		if i == devicesKept {
			break
		}
		enc, mac, ok := strings.Cut(part, ".")
		if !ok {
			continue
		}
		p, err1 := base64.RawURLEncoding.DecodeString(enc)
		m, err2 := base64.RawURLEncoding.DecodeString(mac)
		if err1 != nil || err2 != nil || len(p) != devicePayload || p[0] != deviceVersion || !sig.Verify(devicePurpose, p, m) {
			continue
		}
		out = append(out, device{
			staffID: int64(binary.BigEndian.Uint64(p[1:9])),                 // #nosec G115 -- written from an int64 above
			epoch:   int64(binary.BigEndian.Uint64(p[9:17])),                // #nosec G115 -- written from an int64 above
			expires: time.Unix(int64(binary.BigEndian.Uint64(p[17:25])), 0), // #nosec G115 -- written from an int64 above
			nonce:   p[25:],
		})
	}
	return out
}

// trustedDevice finds the cookie's entry for st that still holds: signed
// by us, unexpired, and made in the account's current session epoch (so
// "sign out everywhere", disabling the account or setting a new password
// from an invitation ends the trust too).
func (s *Service) trustedDevice(cookie string, st Staff, now time.Time) (device, bool) {
	if s.cfg.Devices == nil || cookie == "" || st.ID == 0 {
		return device{}, false
	}
	for _, d := range parseDevices(cookie, s.cfg.Devices) {
		if d.staffID == st.ID && d.epoch == st.SessionEpoch && now.Before(d.expires) {
			return d, true
		}
	}
	return device{}, false
}

// TrustDevice is the device cookie to set after st signed in completely
// from a browser that sent cookie: a fresh entry for st first, then the
// other accounts' entries that still verify. "" when there is no signer
// (the cookie is then not set).
func (s *Service) TrustDevice(st Staff, cookie string) (string, error) {
	if s.cfg.Devices == nil {
		return "", nil
	}
	nonce := make([]byte, deviceNonce)
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	now := s.clock.Now()
	entries := []string{device{staffID: st.ID, epoch: st.SessionEpoch, expires: now.Add(DeviceFor), nonce: nonce}.encode(s.cfg.Devices)}
	for _, d := range parseDevices(cookie, s.cfg.Devices) {
		if len(entries) == devicesKept {
			break
		}
		if d.staffID != st.ID && now.Before(d.expires) {
			entries = append(entries, d.encode(s.cfg.Devices))
		}
	}
	return strings.Join(entries, "~"), nil
}
