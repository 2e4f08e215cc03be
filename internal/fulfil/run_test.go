package fulfil

import (
	"testing"
	"time"
)

// An operator's system that gives a place to ask is asked again after
// PollFirst, then twice as long each time, never longer than PollMax.
func TestPollsWaitTwiceAsLongEachTimeUpToTheLongest(t *testing.T) {
	cases := []struct {
		name        string
		first, most time.Duration
		want        []time.Duration // waits before polls 1, 2, 3, …
	}{
		{"defaults", 0, 0, []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
			16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}},
		{"configured", 10 * time.Second, 35 * time.Second, []time.Duration{10 * time.Second, 20 * time.Second, 35 * time.Second, 35 * time.Second}},
		{"first above the longest", time.Hour, time.Minute, []time.Duration{time.Minute, time.Minute}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &Service{Config: Config{PollFirst: tc.first, PollMax: tc.most}}
			for n, want := range tc.want {
				if got := s.pollWait(n); got != want {
					t.Errorf("wait before poll %d: %v, want %v", n+1, got, want)
				}
			}
		})
	}
}

// A system that never answers is asked a bounded number of times: 40 by
// default (about a day and a half with the default waits), or MaxPolls.
func TestPollsAreBounded(t *testing.T) {
	if got := (&Service{}).maxPolls(); got != 40 {
		t.Errorf("default bound %d, want 40", got)
	}
	if got := (&Service{Config: Config{MaxPolls: 3}}).maxPolls(); got != 3 {
		t.Errorf("configured bound %d, want 3", got)
	}
	var total time.Duration
	s := &Service{}
	for n := range s.maxPolls() {
		total += s.pollWait(n)
	}
	if total < 24*time.Hour || total > 48*time.Hour {
		t.Errorf("the default polls span %v, want between one and two days", total)
	}
}

// The id an HTTP system's step sends names the request, the system and the
// step, the same on every retry; the callback path escapes the system's name.
func TestCallIDAndCallbackPath(t *testing.T) {
	if got := CallID("RD-7K4M-9QXT-2HV9", "mailer", 42); got != "RD-7K4M-9QXT-2HV9/mailer/42" {
		t.Errorf("CallID %q", got)
	}
	if CallID("RD-7K4M-9QXT-2HV9", "mailer", 42) == CallID("RD-7K4M-9QXT-2HV9", "mailer", 43) {
		t.Error("two steps share an id")
	}
	if got := CallbackPath("mailer"); got != "/datamap/callback/mailer" {
		t.Errorf("CallbackPath %q", got)
	}
	if got := CallbackPath("crm/eu west"); got != "/datamap/callback/crm%2Feu%20west" {
		t.Errorf("CallbackPath of a name with a slash and a space: %q", got)
	}
	s := &Service{Config: Config{BaseURL: "https://privacy.example.kz"}}
	if got := s.CallbackURL("mailer"); got != "https://privacy.example.kz/datamap/callback/mailer" {
		t.Errorf("CallbackURL %q", got)
	}
}
