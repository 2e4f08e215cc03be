package request

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
)

// A Token is a secret link component: 256 random bits, shown to the requester
// once (in an email) and stored only as its SHA-256 hash. A fast hash is right
// here: the token has full entropy, so there is nothing to brute-force.
type Token struct {
	Plain string // URL-safe text for the link
	Hash  []byte // what the database keeps
}

// NewToken draws a token from r (crypto/rand when nil).
func NewToken(r io.Reader) (Token, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, 32)
	if _, err := io.ReadFull(r, b); err != nil {
		return Token{}, fmt.Errorf("read random token: %w", err)
	}
	plain := base64.RawURLEncoding.EncodeToString(b)
	return Token{Plain: plain, Hash: HashToken(plain)}, nil
}

// HashToken is the lookup key for a token presented in a link. Looking up by
// hash also makes the comparison constant-time with respect to the secret.
func HashToken(plain string) []byte {
	h := sha256.Sum256([]byte(plain))
	return h[:]
}

// WellFormedToken reports whether s could be a token at all, so malformed
// links are answered without touching the database.
func WellFormedToken(s string) bool {
	if len(s) != 43 {
		return false
	}
	// The decoder alone is not enough: it skips CR and LF, so 42 symbols
	// and a line break would pass. Only the URL-safe alphabet is a token.
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}
