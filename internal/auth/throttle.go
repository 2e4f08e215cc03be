package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"rightsdesk/internal/clientip"
)

// Throttle is how failed sign-ins are slowed down (docs/security.md, "Sign-in
// throttling"). Failures are counted per bucket: the untrusted clients of
// one account (everyone typing that email without its device cookie), one
// trusted client of one account (a device cookie), and the untrusted
// clients behind one address. Each bucket allows a few free failures; after
// them every further attempt waits out a lock that doubles each time, up to
// MaxLock. A bucket without a failure for Forget is forgotten; a success
// clears the account's bucket it was counted in.
//
// A trusted client is counted only in its own bucket, so an attacker who
// locks the account for untrusted clients, or the office's address, does
// not lock out its owner at the computer they signed in from before.
type Throttle struct {
	Account   int           // free failures of the untrusted clients of one account
	Device    int           // free failures of one trusted client (device cookie)
	Address   int           // free failures of the untrusted clients of one address
	FirstLock time.Duration // the first lock once the free failures are spent
	MaxLock   time.Duration // the longest lock
	Forget    time.Duration // a bucket without a failure this long starts over
}

// DefaultThrottle lets a person make a few typos and an office share an
// address, while a guesser gets 5 tries per account, then one at 1, 2, 4,
// 8, 16 and then every 30 minutes: fewer than 60 a day, against a password
// of at least 12 characters.
var DefaultThrottle = Throttle{Account: 5, Device: 5, Address: 20, FirstLock: time.Minute, MaxLock: 30 * time.Minute, Forget: 24 * time.Hour}

// BucketState is one throttle bucket as stored.
type BucketState struct {
	Failures    int       // attempts counted since the bucket last started over
	Lockouts    int       // locks so far, which sets the next lock's length
	LastFailure time.Time // the last attempt counted
	LockedUntil time.Time // no attempt is checked before this
}

// admit decides whether one more attempt may be checked against a bucket
// with free failures, and counts it as a failure already: the attempt is
// recorded before the password is checked, so however many arrive at once
// no more than the bucket allows are checked. A success clears the bucket
// afterwards; an attempt that is not checked after all is refunded.
// retry is how long to wait when the attempt is refused.
func (t Throttle) admit(st BucketState, free int, now time.Time) (next BucketState, retry time.Duration, ok bool) {
	if now.Before(st.LockedUntil) {
		return st, st.LockedUntil.Sub(now), false
	}
	if !st.LastFailure.IsZero() && now.Sub(st.LastFailure) >= t.Forget {
		st = BucketState{}
	}
	if st.Failures >= free {
		lock := t.FirstLock << min(st.Lockouts, 30)
		if lock <= 0 || lock > t.MaxLock {
			lock = t.MaxLock
		}
		st.Lockouts++
		st.LockedUntil = now.Add(lock)
		// After the lock, one more attempt; it failing locks again, longer.
		st.Failures = free - 1
		return st, lock, false
	}
	st.Failures++
	st.LastFailure = now
	return st, 0, true
}

// refund gives back an attempt that was counted and then not checked (the
// hashing was busy) or that proved the password of an account whose code
// is still to come.
func refund(st BucketState) BucketState {
	if st.Failures > 0 {
		st.Failures--
	}
	return st
}

// ThrottledError is a sign-in refused before the password was checked.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed sign-ins: retry in %s", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrThrottled) hold.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// RetryAfterOf is how long a throttled client should wait (zero for other
// errors).
func RetryAfterOf(err error) time.Duration {
	var te *ThrottledError
	if errors.As(err, &te) {
		return te.RetryAfter
	}
	return 0
}

// bucket names a throttle counter without keeping what it counts: an email
// typed at the sign-in form, a device cookie, a client address.
func bucket(kind, value string) string {
	sum := sha256.Sum256([]byte("signin\x00" + kind + "\x00" + value))
	return "signin:" + kind + ":" + hex.EncodeToString(sum[:16])
}

func accountBucket(email string) string {
	return bucket("account", strings.ToLower(strings.TrimSpace(email)))
}

func deviceBucket(staffID int64, nonce []byte) string {
	return bucket("device", strconv.FormatInt(staffID, 10)+"\x00"+hex.EncodeToString(nonce))
}

func totpBucket(staffID int64) string { return bucket("totp-off", strconv.FormatInt(staffID, 10)) }

// addressBucket is the client's address as clientip.Key counts it: an
// IPv6 client by its /64, so that walking the addresses of one's own
// network does not make a new bucket each time.
func addressBucket(addr string) string { return bucket("address", clientip.Key(addr)) }
