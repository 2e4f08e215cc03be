// Package keyring encrypts the requester's personal data before it reaches
// the database, and computes the blind indexes that let staff search it.
//
// ENCRYPTION_KEY holds one or more keys, comma separated, each 32 random
// bytes in base64. The first key seals everything written; every key opens
// what it sealed, so a new key can be put first while rows sealed with the
// old one are rewritten (`rightsdesk key rotate`), after which the old key
// is removed. Each sealed value names its key by a short id.
//
// Sealed value: 0x01 | key id (4 bytes) | AES-256-GCM with a random 96-bit
// nonce (nonce | ciphertext | tag). The additional data is the column the
// value belongs to, so a value moved into another column does not open.
// The empty string is stored empty: an optional field left blank is not
// worth a ciphertext, and a blank field says nothing about a person.
package keyring

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// KeySize is the length of a key, in bytes.
const KeySize = 32

const (
	version  = 0x01
	idSize   = 4
	overhead = 1 + idSize
	// IndexSize is the length of a blind index term: long enough that
	// unrelated terms practically never collide, short enough to keep the
	// search index small, and no more than needed (it is a keyed hash).
	IndexSize = 8
)

// ErrUnknownKey means a value was sealed with a key that is not in
// ENCRYPTION_KEY (it was removed too early, or the wrong key was given).
var ErrUnknownKey = errors.New("sealed with a key not in ENCRYPTION_KEY")

// ErrCorrupt means a value is not something this package sealed, or was
// changed after it was sealed.
var ErrCorrupt = errors.New("sealed value is corrupt or was tampered with")

// Keyring seals and opens values and computes blind index terms.
type Keyring struct {
	keys []key // keys[0] seals
}

type key struct {
	id    [idSize]byte
	aead  cipher.AEAD
	index []byte // HMAC key for blind index terms
	mac   []byte // HMAC key for values the portal signs (Sign)
	// operators is what each operator's own key is derived from
	// (ForOperator), so that the master key itself is not kept.
	operators []byte
}

// Parse reads ENCRYPTION_KEY: base64 keys separated by commas, the current
// one first.
func Parse(s string) (*Keyring, error) {
	var raws [][]byte
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		raw, err := decode(part)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		raws = append(raws, raw)
	}
	return New(raws...)
}

func decode(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil {
			if len(raw) != KeySize {
				return nil, fmt.Errorf("is %d bytes, want %d (generate one with `rightsdesk key generate`)", len(raw), KeySize)
			}
			return raw, nil
		}
	}
	return nil, errors.New("is not base64 (generate one with `rightsdesk key generate`)")
}

// New returns a keyring of raw keys, the current one first.
func New(raws ...[]byte) (*Keyring, error) {
	if len(raws) == 0 {
		return nil, errors.New("no key")
	}
	kr := &Keyring{}
	seen := map[[idSize]byte]bool{}
	for i, raw := range raws {
		k, err := newKey(raw)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		if seen[k.id] {
			return nil, fmt.Errorf("key %d: given twice", i+1)
		}
		seen[k.id] = true
		kr.keys = append(kr.keys, k)
	}
	return kr, nil
}

func newKey(raw []byte) (key, error) {
	if len(raw) != KeySize {
		return key{}, fmt.Errorf("is %d bytes, want %d", len(raw), KeySize)
	}
	// One master key, independent subkeys: a leaked index key, signing key
	// or id says nothing about the encryption key.
	derive := func(purpose string) ([]byte, error) {
		return hkdf.Key(sha256.New, raw, nil, "rightsdesk "+purpose, KeySize)
	}
	enc, err := derive("seal v1")
	if err != nil {
		return key{}, fmt.Errorf("derive key: %w", err)
	}
	idx, err := derive("blind index v1")
	if err != nil {
		return key{}, fmt.Errorf("derive key: %w", err)
	}
	idb, err := derive("key id v1")
	if err != nil {
		return key{}, fmt.Errorf("derive key: %w", err)
	}
	mac, err := derive("signature v1")
	if err != nil {
		return key{}, fmt.Errorf("derive key: %w", err)
	}
	ops, err := derive("operators v1")
	if err != nil {
		return key{}, fmt.Errorf("derive key: %w", err)
	}
	block, err := aes.NewCipher(enc)
	if err != nil {
		return key{}, fmt.Errorf("cipher: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return key{}, fmt.Errorf("cipher: %w", err)
	}
	k := key{aead: aead, index: idx, mac: mac, operators: ops}
	copy(k.id[:], idb)
	return k, nil
}

// DefaultOperator is the operator whose keys are the deployment's own: the
// default operator (operator.DefaultID), to which every value sealed before
// there could be several operators belongs (migration 00037).
const DefaultOperator int64 = 1

// ForOperator is the keyring of one operator of the deployment (issue 15):
// each key of the ring gives way, through HKDF with the operator's id, to a
// key of that operator's own, so that one operator's sealed values do not
// open and its blind index terms do not match under another's keyring. The
// ring keeps its order, so a rotation of ENCRYPTION_KEY is one for every
// operator. The default operator's keyring is kr itself: a database from
// before operators reads and searches as it did.
func (kr *Keyring) ForOperator(id int64) *Keyring {
	if id == DefaultOperator {
		return kr
	}
	out := &Keyring{keys: make([]key, len(kr.keys))}
	for i, k := range kr.keys {
		raw, err := hkdf.Key(sha256.New, k.operators, nil, "rightsdesk operator "+strconv.FormatInt(id, 10), KeySize)
		if err == nil {
			out.keys[i], err = newKey(raw)
		}
		if err != nil {
			// Neither can fail for a key of KeySize bytes, the only kind
			// newKey accepts.
			panic(fmt.Sprintf("keyring: derive operator %d's key: %v", id, err))
		}
	}
	return out
}

// Generate returns a new random key in the form ENCRYPTION_KEY takes.
func Generate() string {
	raw := make([]byte, KeySize)
	_, _ = rand.Read(raw) // crypto/rand.Read never fails (Go 1.24+)
	return base64.StdEncoding.EncodeToString(raw)
}

// CurrentID names the key that seals, for operators and for finding the
// values sealed with another key (hex of the id, which is bytes 2-5 of
// every sealed value).
func (kr *Keyring) CurrentID() string { return fmt.Sprintf("%x", kr.keys[0].id) }

// IDs names every key, the current one first.
func (kr *Keyring) IDs() []string {
	out := make([]string, len(kr.keys))
	for i, k := range kr.keys {
		out[i] = fmt.Sprintf("%x", k.id)
	}
	return out
}

// Seal encrypts plaintext for column with the current key. Empty stays
// empty.
func (kr *Keyring) Seal(column string, plaintext []byte) []byte {
	if len(plaintext) == 0 {
		return []byte{}
	}
	k := kr.keys[0]
	out := make([]byte, overhead, overhead+k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	out[0] = version
	copy(out[1:], k.id[:])
	// #nosec G407 -- no nonce is passed: NewGCMWithRandomNonce draws a fresh random one per call
	return k.aead.Seal(out, nil, plaintext, []byte(column))
}

// SealString is Seal for text.
func (kr *Keyring) SealString(column, plaintext string) []byte {
	return kr.Seal(column, []byte(plaintext))
}

// Open decrypts what Seal sealed for column, with whichever key sealed it.
// Nil and empty open to nil.
func (kr *Keyring) Open(column string, sealed []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	k, err := kr.keyOf(sealed)
	if err != nil {
		return nil, err
	}
	plain, err := k.aead.Open(nil, nil, sealed[overhead:], []byte(column))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", column, ErrCorrupt)
	}
	return plain, nil
}

// OpenString is Open for text.
func (kr *Keyring) OpenString(column string, sealed []byte) (string, error) {
	b, err := kr.Open(column, sealed)
	return string(b), err
}

// Current reports whether sealed was sealed with the current key (or is
// empty), that is whether rotation can leave it alone.
func (kr *Keyring) Current(sealed []byte) bool {
	return len(sealed) == 0 || (len(sealed) > overhead && [idSize]byte(sealed[1:overhead]) == kr.keys[0].id)
}

func (kr *Keyring) keyOf(sealed []byte) (*key, error) {
	if len(sealed) <= overhead || sealed[0] != version {
		return nil, ErrCorrupt
	}
	id := [idSize]byte(sealed[1:overhead])
	for i := range kr.keys {
		if kr.keys[i].id == id {
			return &kr.keys[i], nil
		}
	}
	return nil, fmt.Errorf("key %x: %w", id, ErrUnknownKey)
}

// Sign is an HMAC-SHA256 of msg for purpose under the current key: a value
// the portal hands out and must recognise later (a receipt page's address),
// without storing it. The purpose is part of what is signed, so a signature
// made for one purpose is worth nothing for another.
func (kr *Keyring) Sign(purpose string, msg []byte) []byte {
	return sign(kr.keys[0].mac, purpose, msg)
}

// Verify reports whether sig is Sign's signature of msg for purpose under
// any key of the ring, so that values signed before a rotation still hold.
// The comparison takes constant time.
func (kr *Keyring) Verify(purpose string, msg, sig []byte) bool {
	ok := false
	for _, k := range kr.keys {
		ok = hmac.Equal(sign(k.mac, purpose, msg), sig) || ok
	}
	return ok
}

func sign(k []byte, purpose string, msg []byte) []byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(msg)
	return m.Sum(nil)
}

// Term is the blind index term of one normalised value with the current
// key: an HMAC, truncated to IndexSize. Equal values give equal terms, and
// nothing else can be learned from a term without the key.
func (kr *Keyring) Term(value string) []byte {
	return term(kr.keys[0].index, value)
}

// Terms is the term of value under every key, current first: what a search
// must look for while rows indexed under an older key remain.
func (kr *Keyring) Terms(value string) [][]byte {
	out := make([][]byte, len(kr.keys))
	for i, k := range kr.keys {
		out[i] = term(k.index, value)
	}
	return out
}

func term(k []byte, value string) []byte {
	return termHasher{hmac.New(sha256.New, k)}.term(value)
}

// termHasher computes terms under one key, reusing its HMAC state.
type termHasher struct{ mac hash.Hash }

func (k *key) hasher() termHasher { return termHasher{hmac.New(sha256.New, k.index)} }

func (h termHasher) term(value string) []byte {
	h.mac.Reset()
	h.mac.Write([]byte(value))
	var sum [sha256.Size]byte
	return bytes.Clone(h.mac.Sum(sum[:0])[:IndexSize])
}
