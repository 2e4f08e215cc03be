package auth

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"rightsdesk/internal/request"
)

func TestThrottleGivesFreeFailuresThenLocksLongerEachTime(t *testing.T) {
	th := DefaultThrottle
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	var st BucketState
	try := func() (time.Duration, bool) {
		var retry time.Duration
		var ok bool
		st, retry, ok = th.admit(st, th.Account, now)
		return retry, ok
	}
	for i := 1; i <= 5; i++ {
		if _, ok := try(); !ok {
			t.Fatalf("free failure %d refused", i)
		}
	}
	// Then each attempt waits out a lock, and each lock is twice the last.
	for _, lock := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 30 * time.Minute, 30 * time.Minute} {
		retry, ok := try()
		if ok || retry != lock {
			t.Fatalf("after the free failures: ok %v, retry %v, want a lock of %v", ok, retry, lock)
		}
		now = now.Add(lock - time.Second)
		if retry, ok := try(); ok || retry != time.Second {
			t.Fatalf("during a lock of %v: ok %v, retry %v", lock, ok, retry)
		}
		now = now.Add(time.Second)
		if _, ok := try(); !ok {
			t.Fatalf("after a lock of %v the next attempt is refused", lock)
		}
	}
	// A day without a failure starts the bucket over.
	now = now.Add(24 * time.Hour)
	for i := 1; i <= 5; i++ {
		if _, ok := try(); !ok {
			t.Fatalf("after a quiet day, failure %d refused", i)
		}
	}
	// A refunded attempt gives its place back.
	st = refund(st)
	if _, ok := try(); !ok {
		t.Error("a refunded attempt was not given back")
	}
}

func TestGuessesPerDayStayFew(t *testing.T) {
	// A guesser who tries again the moment each lock ends.
	th := DefaultThrottle
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	now := start
	var st BucketState
	checked := 0
	for now.Before(start.Add(24 * time.Hour)) {
		next, retry, ok := th.admit(st, th.Account, now)
		st = next
		if ok {
			checked++
			continue
		}
		now = now.Add(retry)
	}
	if checked > 60 {
		t.Errorf("%d guesses checked in a day on one account, want at most 60 (docs/security.md)", checked)
	}
	t.Logf("%d guesses a day on one account from untrusted clients", checked)
}

func TestIPv6ClientsAreCountedByTheirSlash64(t *testing.T) {
	if addressBucket("2001:db8:1:2:aaaa::1") != addressBucket("2001:db8:1:2:ffff:ffff:ffff:fffe") {
		t.Error("two addresses of one /64 count apart")
	}
	if addressBucket("2001:db8:1:2::1") == addressBucket("2001:db8:1:3::1") {
		t.Error("two /64s count together")
	}
	if addressBucket("::ffff:203.0.113.5") != addressBucket("203.0.113.5") || addressBucket("203.0.113.5") == addressBucket("203.0.113.6") {
		t.Error("IPv4 clients are counted by their own address")
	}
}

// memRepo keeps throttle buckets in memory, one lock for all, as the
// store's row locks do for each bucket.
type memRepo struct {
	Repository
	mu      sync.Mutex
	staff   map[string]Staff
	buckets map[string]BucketState
	events  []SignInAttempt
}

func newMemRepo(st ...Staff) *memRepo {
	r := &memRepo{staff: map[string]Staff{}, buckets: map[string]BucketState{}}
	for _, s := range st {
		r.staff[s.Email] = s
	}
	return r
}

func (r *memRepo) StaffByEmail(_ context.Context, email string) (Staff, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.staff[email]; ok {
		return s, nil
	}
	return Staff{}, ErrNotFound
}

func (r *memRepo) UpdateThrottle(_ context.Context, buckets []string, update func([]BucketState) ([]BucketState, error)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	states := make([]BucketState, len(buckets))
	for i, b := range buckets {
		states[i] = r.buckets[b]
	}
	next, err := update(states)
	if err != nil {
		return err
	}
	for i, b := range buckets {
		r.buckets[b] = next[i]
	}
	return nil
}

func (r *memRepo) RecordSignIn(_ context.Context, a SignInAttempt) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, a)
	for _, b := range a.Clear {
		delete(r.buckets, b)
	}
	return nil
}

func (r *memRepo) reasons() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, e := range r.events {
		out[e.Reason]++
	}
	return out
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

var testNow = fixedClock{time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}

func TestABusyHashingSlotCountsNothingAgainstTheClient(t *testing.T) {
	repo := newMemRepo()
	s, err := NewService(repo, nil, testNow, Config{HashSlots: 1, HashWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.gate.slots <- struct{}{} // every slot taken
	_, _, err = s.SignIn(context.Background(), "a@example.kz", "wrong password here", Client{Address: "203.0.113.5"})
	<-s.gate.slots
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("with every slot taken: %v, want ErrBusy", err)
	}
	for b, st := range repo.buckets {
		if st.Failures != 0 {
			t.Errorf("bucket %s counts %d failures for an attempt never checked", b, st.Failures)
		}
	}
	if repo.reasons()["busy"] != 1 {
		t.Errorf("events: %v, want the busy attempt logged", repo.reasons())
	}
}

// heapPeak samples the Go heap's size while a burst runs.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// burst sends n wrong sign-ins at once, each for another email from
// another address (so that no throttle holds any back), and returns the
// Go heap's peak while they ran.
func burst(tb testing.TB, s *Service, n int) uint64 {
	tb.Helper()
	runtime.GC()
	stop := make(chan struct{})
	peak := heapPeak(stop)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, _, err := s.SignIn(context.Background(), fmt.Sprintf("guess%d@example.kz", i), "wrong password here",
				Client{Address: fmt.Sprintf("203.0.113.%d", i%250+1)})
			if !errors.Is(err, ErrBadCredentials) {
				tb.Errorf("guess %d: %v", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(stop)
	return <-peak
}

func TestABurstOfSignInsHashesWithinBoundedMemory(t *testing.T) {
	const n = 48
	const slots = 2
	s, err := NewService(newMemRepo(), nil, testNow, Config{HashSlots: slots, HashWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	peak := burst(t, s, n)
	perHash := uint64(DefaultParams.Memory) * 1024
	// Each check holds 19 MiB while it runs; with two slots the heap holds
	// two of them, and what the collector has not yet taken back. Without
	// the gate all 48 are held at once: 912 MiB.
	limit := 6 * slots * perHash
	t.Logf("peak heap during %d sign-ins at once, %d slots: %d MiB (limit %d MiB; unbounded: %d MiB)",
		n, slots, peak>>20, limit>>20, n*perHash>>20)
	if peak > limit {
		t.Errorf("peak heap %d MiB during the burst, want at most %d MiB", peak>>20, limit>>20)
	}
}

func TestTheHashGateIsSizedForTheMachine(t *testing.T) {
	if n := gateSize(DefaultParams); n < 1 || n > runtime.GOMAXPROCS(0) {
		t.Errorf("gate of %d slots on %d cores", n, runtime.GOMAXPROCS(0))
	}
	s, err := NewService(newMemRepo(), nil, testNow, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if s.HashSlots() != gateSize(DefaultParams) {
		t.Errorf("service has %d slots", s.HashSlots())
	}
}

// BenchmarkSignInBurst reports the heap's peak while 64 sign-ins are
// checked at once (go test -bench SignInBurst -run ^$ ./internal/auth/).
func BenchmarkSignInBurst(b *testing.B) {
	s, err := NewService(newMemRepo(), nil, testNow, Config{HashWait: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	var peak uint64
	for b.Loop() {
		peak = max(peak, burst(b, s, 64))
	}
	b.ReportMetric(float64(peak>>20), "peak-heap-MiB")
	b.ReportMetric(float64(s.HashSlots()), "slots")
}

func TestParallelGuessesAreCheckedNoMoreThanTheLimit(t *testing.T) {
	st := Staff{ID: 7, Email: "admin@example.kz", Role: Admin, Locale: request.Russian, SessionEpoch: 1}
	h, err := HashPassword("correct horse battery staple", DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	st.PasswordHash = h
	repo := newMemRepo(st)
	s, err := NewService(repo, nil, testNow, Config{HashWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, _ = s.SignIn(context.Background(), st.Email, fmt.Sprintf("guess number %d", i), Client{Address: "203.0.113.9"})
		}()
	}
	wg.Wait()
	got := repo.reasons()
	if got["bad_password"] != DefaultThrottle.Account || got["throttled"] != 40-DefaultThrottle.Account {
		t.Errorf("outcomes %v: want %d checked, the rest refused unchecked", got, DefaultThrottle.Account)
	}
}
