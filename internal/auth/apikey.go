package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// APIKeyPrefix starts every API key, so that secret scanners and people
// recognise one in a log or a repository.
const APIKeyPrefix = "rdk_"

// apiKeyBytes is the key's randomness: 256 bits.
const apiKeyBytes = 32

// APIKey is a key the operator's systems use for the staff API. It acts with
// a role, exactly as a staff account of that role would.
type APIKey struct {
	ID         int64
	Name       string
	Role       Role
	Prefix     string // the key's first characters, to tell keys apart
	CreatedBy  int64  // 0: the command line
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until first used
	RevokedAt  time.Time // zero while the key works
	// MakerRole and MakerDisabled are the maker's role and state as they
	// are now (the store reads them with the key); empty and false for a
	// key from the command line.
	MakerRole     Role
	MakerDisabled bool
}

// Active reports whether the key is not revoked.
func (k APIKey) Active() bool { return k.RevokedAt.IsZero() }

// Why a key made by an admin is suspended.
const (
	SuspendedMakerDisabled = "maker_disabled" // the admin's account was disabled
	SuspendedMakerDemoted  = "maker_demoted"  // the admin is no longer an admin
)

// Suspension says why the key does not work while its maker lacks the
// rights it was made with, or "" when it works. A key can do no more than
// the admin who made it still may: disabling or demoting that admin
// suspends it, re-enabling or promoting them lifts that. A key from the
// command line has no maker: the operator who ran it holds the server.
func (k APIKey) Suspension() string {
	switch {
	case k.CreatedBy == 0:
		return ""
	case k.MakerDisabled:
		return SuspendedMakerDisabled
	case !Can(k.MakerRole, PermStaffManage):
		return SuspendedMakerDemoted
	}
	return ""
}

// Works reports whether the key authenticates: not revoked, not suspended.
func (k APIKey) Works() bool { return k.Active() && k.Suspension() == "" }

// Can reports whether the key's role holds perm (a revoked or suspended key
// holds nothing).
func (k APIKey) Can(p Perm) bool { return k.Works() && Can(k.Role, p) }

// NewAPIKey is a key to store: everything but the secret, and its hash.
type NewAPIKey struct {
	Key   APIKey
	Hash  []byte
	Audit Audit
}

// APIKeyRepository keeps API keys; writes record their event in the same
// transaction.
type APIKeyRepository interface {
	CreateAPIKey(ctx context.Context, k NewAPIKey) (APIKey, error)
	APIKeys(ctx context.Context) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, a Audit, id int64) (APIKey, error)
	// UseAPIKey finds the active key with this hash and notes that it was
	// used at; ErrNotFound when there is none.
	UseAPIKey(ctx context.Context, hash []byte, at time.Time) (APIKey, error)
}

// Errors of API keys.
var (
	// ErrBadAPIKey is the one answer for a missing, malformed, unknown,
	// revoked and suspended key.
	ErrBadAPIKey = errors.New("missing, unknown, revoked or suspended API key")
	// ErrAPIKeyRevoked is returned when revoking a key revoked before.
	ErrAPIKeyRevoked = errors.New("API key already revoked")
)

// APIKeys creates, checks and revokes API keys.
type APIKeys struct {
	Repo   APIKeyRepository
	Clock  Clock
	Random io.Reader // nil: crypto/rand
}

// HashAPIKey is what is stored of a key.
func HashAPIKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// Create makes a key for actor (an admin; the command line passes a zero
// ID with the admin role) and returns it with its secret, which exists
// only in this answer.
func (s *APIKeys) Create(ctx context.Context, actor Staff, name, role string) (APIKey, string, error) {
	if !actor.Can(PermStaffManage) {
		return APIKey{}, "", ErrForbidden
	}
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 || strings.ContainsAny(name, "\r\n\x00") {
		return APIKey{}, "", &ValidationError{Field: "name", Key: "apikey.name", Err: errors.New("give a name of one line, up to 100 characters")}
	}
	r, err := ParseRole(role)
	if err != nil {
		return APIKey{}, "", &ValidationError{Field: "role", Key: "role", Err: err}
	}
	random := s.Random
	if random == nil {
		random = rand.Reader
	}
	buf := make([]byte, apiKeyBytes)
	if _, err := io.ReadFull(random, buf); err != nil {
		return APIKey{}, "", fmt.Errorf("make API key: %w", err)
	}
	secret := APIKeyPrefix + base64.RawURLEncoding.EncodeToString(buf)
	now := s.Clock.Now()
	k, err := s.Repo.CreateAPIKey(ctx, NewAPIKey{
		Key:   APIKey{Name: name, Role: r, Prefix: secret[:len(APIKeyPrefix)+6], CreatedBy: actor.ID, CreatedAt: now},
		Hash:  HashAPIKey(secret),
		Audit: Audit{ActorID: actor.ID, At: now},
	})
	if err != nil {
		return APIKey{}, "", err
	}
	return k, secret, nil
}

// List returns every key, revoked ones too, newest first.
func (s *APIKeys) List(ctx context.Context, actor Staff) ([]APIKey, error) {
	if !actor.Can(PermStaffManage) {
		return nil, ErrForbidden
	}
	return s.Repo.APIKeys(ctx)
}

// Revoke stops a key from working, from the very next call.
func (s *APIKeys) Revoke(ctx context.Context, actor Staff, id int64) (APIKey, error) {
	if !actor.Can(PermStaffManage) {
		return APIKey{}, ErrForbidden
	}
	return s.Repo.RevokeAPIKey(ctx, Audit{ActorID: actor.ID, At: s.Clock.Now()}, id)
}

// Authenticate returns the working key a bearer token is. It is checked
// against the database on every call, with its maker's rights as they are
// now, so a revoked key, or one whose admin was disabled or demoted, fails
// at once.
func (s *APIKeys) Authenticate(ctx context.Context, token string) (APIKey, error) {
	rest, ok := strings.CutPrefix(token, APIKeyPrefix)
	if !ok || base64.RawURLEncoding.DecodedLen(len(rest)) != apiKeyBytes {
		return APIKey{}, ErrBadAPIKey
	}
	if _, err := base64.RawURLEncoding.DecodeString(rest); err != nil {
		return APIKey{}, ErrBadAPIKey
	}
	k, err := s.Repo.UseAPIKey(ctx, HashAPIKey(token), s.Clock.Now())
	if errors.Is(err, ErrNotFound) {
		return APIKey{}, ErrBadAPIKey
	}
	if err != nil {
		return APIKey{}, err
	}
	if !k.Works() {
		return APIKey{}, ErrBadAPIKey
	}
	return k, nil
}
