package request

import (
	"errors"
	"testing"
	"time"
)

func TestReplyRateLimitsPerLinkThenPerRequest(t *testing.T) {
	first := time.Date(2026, 3, 2, 5, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		used    ReplyUsage
		key     string
		retryAt time.Time
	}{
		{"below both", ReplyUsage{LinkReplies: MaxRepliesPerLink - 1, RequestReplies: MaxRepliesPerRequest - 1}, "", time.Time{}},
		{"link full", ReplyUsage{LinkReplies: MaxRepliesPerLink, FirstLinkReply: first, RequestReplies: MaxRepliesPerLink},
			"error.replies_per_link", first.Add(ReplyLinkWindow)},
		{"request full through other links", ReplyUsage{LinkReplies: 1, RequestReplies: MaxRepliesPerRequest, FirstRequestReply: first},
			"error.replies_per_request", first.Add(ReplyRequestWindow)},
	}
	for _, c := range cases {
		err := checkReplyRate(c.used)
		var limit *LimitReached
		switch {
		case c.key == "" && err != nil:
			t.Errorf("%s: %v, want the reply allowed", c.name, err)
		case c.key != "" && (!errors.As(err, &limit) || limit.Key != c.key || !limit.RetryAt.Equal(c.retryAt) || limit.Field != "message"):
			t.Errorf("%s: %v, want %s until %v", c.name, err, c.key, c.retryAt)
		}
	}
}

func TestStorageQuotaCountsWhatIsStoredAndWhatIsAdded(t *testing.T) {
	mb := func(n int64) File { return File{Size: n << 20} }
	cases := []struct {
		stored int64
		adding []File
		ok     bool
		left   int64
	}{
		{0, []File{mb(10), mb(10), mb(10), mb(10), mb(10)}, true, 0},
		{45 << 20, []File{mb(5)}, true, 0},
		{45 << 20, []File{mb(3), mb(3)}, false, 5},
		{MaxStoredPerRequest, []File{{Size: 1}}, false, 0},
		{60 << 20, []File{{Size: 1}}, false, 0}, // stored before the quota existed
	}
	for _, c := range cases {
		verr := &ValidationError{}
		checkStorage("files", c.stored, c.adding, verr)
		fe, refused := verr.Fields["files"]
		if refused == c.ok {
			t.Errorf("stored %d + %d files: refused %v, want %v", c.stored, len(c.adding), refused, !c.ok)
			continue
		}
		if refused && (fe.Key != "error.storage_quota" || fe.Params["MaxMB"] != int64(50) || fe.Params["LeftMB"] != c.left) {
			t.Errorf("stored %d: %+v, want the 50 MB quota with %d MB left", c.stored, fe, c.left)
		}
	}
}

func TestAcknowledgementsAreCountedPerDayOfTheOperatorsZone(t *testing.T) {
	almaty, err := time.LoadLocation("Asia/Almaty")
	if err != nil {
		t.Fatal(err)
	}
	// 18:30 UTC on 1 March is 23:30 in Almaty: still 1 March there.
	day, next := acknowledgementDay(time.Date(2026, 3, 1, 18, 30, 0, 0, time.UTC), almaty)
	if day != "2026-03-01" || !next.Equal(time.Date(2026, 3, 2, 0, 0, 0, 0, almaty)) {
		t.Errorf("day %s, next %v", day, next)
	}
	// 00:30 on 2 March in Almaty is 19:30 on 1 March in UTC.
	if day, _ := acknowledgementDay(time.Date(2026, 3, 1, 19, 30, 0, 0, time.UTC), almaty); day != "2026-03-02" {
		t.Errorf("day %s, want 2026-03-02", day)
	}
}
