package auth

import (
	"context"
	"errors"
	"math"
	"runtime"
	"runtime/debug"
	"time"
)

// ErrBusy is returned when every password hashing slot stayed taken for
// the whole wait: the person is asked to try again in a moment.
var ErrBusy = errors.New("password checks are busy")

// hashGate bounds how many passwords are hashed at once. Each argon2id
// hash holds Params.Memory (19 MiB by default) for its whole run, so a
// burst of sign-ins, each allowed through by the throttle (many accounts,
// many addresses), would otherwise need that much memory per request in
// flight. A hash is CPU work on one core: more hashes at once than cores
// finish no sooner, they only take more memory.
type hashGate struct {
	slots chan struct{}
	wait  time.Duration
}

// hashWait is how long a sign-in waits for a slot: several hashes' time,
// which a burst of real sign-ins fits in, and little enough that a flood
// gets its answer quickly.
const hashWait = 2 * time.Second

func newHashGate(size int, wait time.Duration) *hashGate {
	return &hashGate{slots: make(chan struct{}, max(size, 1)), wait: wait}
}

// gateSize is the number of hashes this machine runs at once: one per core
// Go may use, and no more than a quarter of the memory limit (GOMEMLIMIT)
// when one is set, so hashing alone never takes the process to its limit.
func gateSize(p Params) int {
	n := runtime.GOMAXPROCS(0)
	if limit := debug.SetMemoryLimit(-1); limit > 0 && limit < math.MaxInt64 {
		perHash := int64(p.Memory) * 1024
		if perHash > 0 {
			n = min(n, int(limit/4/perHash))
		}
	}
	return max(n, 1)
}

// do runs hash in a slot, waiting for one up to the gate's wait.
func (g *hashGate) do(ctx context.Context, hash func()) error {
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-g.slots }()
	hash()
	return nil
}
