package auth

import (
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpOpts are what every authenticator app understands: 30-second steps,
// six digits, SHA-1.
var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// NewTOTPKey draws a new secret for account and returns it with its
// otpauth:// URI (what a QR code carries).
func NewTOTPKey(issuer, account string) (secret, uri string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, SecretSize: 20})
	if err != nil {
		return "", "", fmt.Errorf("generate TOTP secret: %w", err)
	}
	return key.Secret(), key.URL(), nil
}

// TOTPURI rebuilds the otpauth:// URI of a stored secret, for showing it
// again while enrolment is unconfirmed.
func TOTPURI(issuer, account, secret string) string {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Secret: mustBase32(secret)})
	if err != nil {
		return ""
	}
	return key.URL()
}

func mustBase32(secret string) []byte {
	b, err := b32.DecodeString(strings.ToUpper(secret))
	if err != nil {
		return nil
	}
	return b
}

// TOTPStep is the 30-second step a time falls in.
func TOTPStep(at time.Time) int64 { return at.Unix() / 30 }

// MatchTOTP checks a code against the step of at and one step either side
// (clocks drift), and returns the step it matched so that the caller can
// refuse a code used before. Every candidate is compared, in constant time.
func MatchTOTP(secret, code string, at time.Time) (step int64, ok bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return 0, false
	}
	now := TOTPStep(at)
	for _, s := range []int64{now - 1, now, now + 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*30, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !ok {
			step, ok = s, true
		}
	}
	return step, ok
}

// TOTPCode is the code for at; tests use it to act as the authenticator.
func TOTPCode(secret string, at time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, at, totpOpts)
}
