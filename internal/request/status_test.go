package request

import (
	"slices"
	"testing"
)

// The open and closed lists are what the queue, the metrics and the partial
// indexes are spelled from: together they are every status, each once, and
// they agree with the lifecycle table — a request moves on only from an open
// status, and every open one can still close.
func TestEveryStatusIsOpenOrClosedAndOnlyOpenOnesMoveOn(t *testing.T) {
	all := AllStatuses()
	open, closed := OpenStatuses(), ClosedStatuses()
	if got := slices.Concat(open, closed); !slices.Equal(got, all) {
		t.Fatalf("open %v + closed %v = %v, want every status once, in order: %v", open, closed, got, all)
	}
	for from, tos := range transitions {
		if !slices.Contains(all, from) {
			t.Errorf("%s moves on but is not in AllStatuses", from)
		}
		for to := range tos {
			if !slices.Contains(all, to) {
				t.Errorf("%s → %s: %s is not in AllStatuses", from, to, to)
			}
		}
	}
	for _, s := range all {
		closes := false
		for to := range transitions[s] {
			closes = closes || !to.Open()
		}
		switch {
		case s.Open() && !closes:
			t.Errorf("%s is open but can never close", s)
		case !s.Open() && len(transitions[s]) > 0:
			t.Errorf("%s is closed but moves on", s)
		}
	}
	for _, s := range AnsweredStatuses() {
		if s.Open() {
			t.Errorf("%s is an answer but still open", s)
		}
	}
	if got := AnsweredStatuses(); !slices.Equal(got, []Status{Completed, Rejected}) {
		t.Errorf("answers = %v, want completed and rejected", got)
	}
}
