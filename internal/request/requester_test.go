package request

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/deadline"
)

// requesterBench is a requester's status page over memStore: one request
// behind the status link token.
type requesterBench struct {
	t      *testing.T
	store  *memStore
	rq     *Requester
	now    time.Time
	token  string
	r      Request
	policy *deadline.Policy
}

func newRequesterBench(t *testing.T, status Status) *requesterBench {
	t.Helper()
	b := &requesterBench{t: t, store: newMemStore(), policy: testPolicy(t, "default")}
	b.now = time.Date(2026, 3, 2, 10, 0, 0, 0, almaty(t))
	link, err := NewToken(nil)
	if err != nil {
		t.Fatal(err)
	}
	b.token = link.Plain
	b.r = b.store.add(datedRequest(t, b.policy, Erasure, status, b.now.AddDate(0, 0, -3)), link.Hash)
	b.rq = &Requester{Repo: b.store, Deadlines: b.policy, Composer: textComposer{}, Clock: testClock{&b.now},
		Links: Links{BaseURL: "https://rights.example.kz"}, DownloadFor: 7 * 24 * time.Hour, Hits: b.store,
		Config: IntakeConfig{PrivacyContact: "privacy@example.kz", StaffLocale: Russian, OrgName: "Школа"}}
	return b
}

var scan = Upload{Name: "скан.png", Content: []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")}

func TestAReplyReachesStaffAndResumesWork(t *testing.T) {
	for _, tc := range []struct {
		from, to Status
		assignee bool
	}{
		{AwaitingRequester, InProgress, true},
		{InProgress, InProgress, false},
		{New, New, false},
	} {
		b := newRequesterBench(t, tc.from)
		if tc.assignee {
			b.store.staff[agentID] = StaffMember{ID: agentID, Email: "agent@example.kz", Locale: Kazakh, Active: true, CanWork: true}
			if _, err := b.store.ChangeRequest(context.Background(), RequestKey{ID: b.r.ID}, func(r Request) (Change, error) {
				return Change{To: r.Status, Event: "assigned", Assign: &[]int64{agentID}[0]}, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := b.rq.Reply(context.Background(), b.token, "  Номер договора 17.\r\nСкан во вложении. ", []Upload{scan})
		if err != nil {
			t.Fatalf("reply from %s: %v", tc.from, err)
		}
		ch := b.store.last(t, b.r.ID)
		wantTo, wantLocale := "privacy@example.kz", Russian
		if tc.assignee {
			wantTo, wantLocale = "agent@example.kz", Kazakh
		}
		if got.Status != tc.to || ch.Event != EventRequesterReplied || ch.Actor != ActorRequester ||
			len(ch.Messages) != 1 || ch.Messages[0].Body != "Номер договора 17.\nСкан во вложении." ||
			len(ch.Files) != 1 || ch.Files[0].ContentType != "image/png" || ch.Files[0].Purpose != FileRequester ||
			len(ch.Emails) != 1 || ch.Emails[0].Kind != EmailStaffReply || ch.Emails[0].To != wantTo || ch.Emails[0].Locale != wantLocale {
			t.Errorf("reply from %s: now %s, change %+v", tc.from, got.Status, ch)
		}
	}
}

func TestARequesterCannotReplyToAClosedOrUnconfirmedRequestNorWithNothing(t *testing.T) {
	for _, s := range []Status{Unverified, Completed, Rejected, Withdrawn, Expired} {
		b := newRequesterBench(t, s)
		if _, err := b.rq.Reply(context.Background(), b.token, "Ещё вопрос", nil); !errors.Is(err, ErrNotOpen) {
			t.Errorf("reply to a %s request: %v", s, err)
		}
		if len(b.store.changesOf(b.r.ID)) != 0 {
			t.Errorf("a refused reply to a %s request changed it", s)
		}
	}
	for _, tc := range []struct {
		name, text string
		files      []Upload
		field, key string
	}{
		{"nothing", " \r\n ", nil, "message", "error.reply_empty"},
		{"too long", strings.Repeat("ә", MaxReplyLength+1), nil, "message", "error.too_long"},
		{"a control character", "Вот\x00", nil, "message", "error.characters"},
		{"a program", "Вот", []Upload{{Name: "скан.png", Content: []byte("MZ\x90\x00")}}, "files", "error.file_type"},
		{"six files", "Вот", []Upload{scan, scan, scan, scan, scan, scan}, "files", "error.too_many_files"},
	} {
		b := newRequesterBench(t, InProgress)
		_, err := b.rq.Reply(context.Background(), b.token, tc.text, tc.files)
		var verr *ValidationError
		if !errors.As(err, &verr) || verr.Fields[tc.field].Key != tc.key {
			t.Errorf("%s: %v, want %s on %s", tc.name, err, tc.key, tc.field)
		}
		if len(b.store.changesOf(b.r.ID)) != 0 {
			t.Errorf("%s: refused, yet the request changed", tc.name)
		}
	}
	b := newRequesterBench(t, InProgress)
	for _, token := range []string{"", "short", strings.Repeat("x", 43)} {
		if _, err := b.rq.Reply(context.Background(), token, "Вот", nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("reply through %q: %v", token, err)
		}
	}
}

func TestRepliesThroughOneLinkAreLimitedEachHour(t *testing.T) {
	b := newRequesterBench(t, InProgress)
	first := b.now
	for i := range MaxRepliesPerLink {
		if _, err := b.rq.Reply(context.Background(), b.token, "Ответ", nil); err != nil {
			t.Fatalf("reply %d: %v", i+1, err)
		}
		b.now = b.now.Add(time.Minute)
	}
	_, err := b.rq.Reply(context.Background(), b.token, "Ещё ответ", nil)
	var limit *LimitReached
	if !errors.As(err, &limit) || limit.Key != "error.replies_per_link" || !limit.RetryAt.Equal(first.Add(ReplyLinkWindow)) {
		t.Fatalf("a reply beyond the link's allowance: %v", err)
	}
	if n := len(b.store.changesOf(b.r.ID)); n != MaxRepliesPerLink {
		t.Errorf("%d replies stored, want %d", n, MaxRepliesPerLink)
	}
	// An hour later the link may reply again.
	b.now = first.Add(ReplyLinkWindow + time.Minute)
	if _, err := b.rq.Reply(context.Background(), b.token, "Через час", nil); err != nil {
		t.Errorf("a reply an hour later: %v", err)
	}
}

func TestFilesBeyondTheRequestsStorageAreRefused(t *testing.T) {
	b := newRequesterBench(t, InProgress)
	big := Upload{Name: "scan.pdf", Content: append([]byte("%PDF-1.7\n"), make([]byte, 9<<20)...)}
	if _, err := b.rq.Reply(context.Background(), b.token, "", []Upload{big, big, big, big, big}); err != nil {
		t.Fatalf("five files of 9 MB: %v", err)
	}
	_, err := b.rq.Reply(context.Background(), b.token, "", []Upload{big})
	var verr *ValidationError
	if !errors.As(err, &verr) || verr.Fields["files"].Key != "error.storage_quota" || verr.Fields["files"].Params["LeftMB"] != int64(4) {
		t.Fatalf("a file beyond the quota: %v", err)
	}
	if n := len(b.store.changesOf(b.r.ID)); n != 1 {
		t.Errorf("%d replies stored", n)
	}
}

func TestWithdrawingClosesAnOpenRequestOnce(t *testing.T) {
	for _, from := range []Status{Unverified, New, InProgress, AwaitingRequester} {
		b := newRequesterBench(t, from)
		got, err := b.rq.Withdraw(context.Background(), b.token)
		if err != nil || got.Status != Withdrawn {
			t.Fatalf("withdraw from %s: %s, %v", from, got.Status, err)
		}
		ch := b.store.last(t, b.r.ID)
		if len(ch.Emails) != 2 || ch.Emails[0].Kind != EmailWithdrawn || ch.Emails[0].To != b.r.Email ||
			ch.Emails[1].Kind != EmailStaffWithdrawn || ch.Emails[1].To != "privacy@example.kz" {
			t.Errorf("withdraw from %s: emails %+v", from, ch.Emails)
		}
		// Files of a request never confirmed go with it.
		if ch.DeleteFiles != (from == Unverified) {
			t.Errorf("withdraw from %s: DeleteFiles %v", from, ch.DeleteFiles)
		}
		if _, err := b.rq.Withdraw(context.Background(), b.token); !errors.Is(err, ErrAlreadyClosed) {
			t.Errorf("withdrawing twice: %v", err)
		}
		if n := len(b.store.changesOf(b.r.ID)); n != 1 {
			t.Errorf("withdrawing twice: %d changes", n)
		}
	}
}

func TestALostLinkIsResentOnlyToTheRequestsAddressAndTheFormTellsNothing(t *testing.T) {
	b := newRequesterBench(t, InProgress)
	for _, tc := range []struct{ reference, email string }{
		{b.r.Reference, "someone@else.kz"},
		{"RD-0000-0000-0000", b.r.Email},
		{"not a reference", b.r.Email},
	} {
		if err := b.rq.ResendLink(context.Background(), tc.reference, tc.email); err != nil {
			t.Errorf("resend %s to %s: %v", tc.reference, tc.email, err)
		}
	}
	if n := len(b.store.changesOf(b.r.ID)); n != 0 {
		t.Fatalf("a resend that matched nothing changed the request (%d)", n)
	}
	if err := b.rq.ResendLink(context.Background(), strings.ToLower(b.r.Reference), "  AIGERIM@example.kz "); err != nil {
		t.Fatal(err)
	}
	ch := b.store.last(t, b.r.ID)
	if !ch.RevokeStatusLinks || ch.AddStatusLink == nil || len(ch.Emails) != 1 || ch.Emails[0].To != b.r.Email ||
		ch.Emails[0].Kind != EmailStatusLink || ch.Emails[0].Secrets[SecretStatus] == "" {
		t.Errorf("resent: %+v", ch)
	}
	if _, err := b.rq.Withdraw(context.Background(), b.token); !errors.Is(err, ErrNotFound) {
		t.Errorf("the old link still works after a resend: %v", err)
	}
	// Past the hour's allowance nothing more is sent, and the answer is the same.
	for range MaxLinkEmailsPerHour + 1 {
		if err := b.rq.ResendLink(context.Background(), b.r.Reference, b.r.Email); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(b.store.changesOf(b.r.ID)); n != MaxLinkEmailsPerHour {
		t.Errorf("%d status links sent in an hour, want %d", n, MaxLinkEmailsPerHour)
	}
}

func TestDownloadLinksGoToTheRequestsAddressAtMostThreeAnHour(t *testing.T) {
	b := newRequesterBench(t, Completed)
	b.store.files[b.r.ID] = []File{{ID: 1, Purpose: FileResponse, Name: "ответ.pdf", Content: []byte("%PDF-")}}
	for i := range MaxLinkEmailsPerHour {
		if _, err := b.rq.SendDownloadLink(context.Background(), b.token, 1); err != nil {
			t.Fatalf("link %d: %v", i+1, err)
		}
	}
	ch := b.store.last(t, b.r.ID)
	if ch.Download == nil || ch.Download.FileID != 1 || !ch.Download.ExpiresAt.Equal(b.now.Add(7*24*time.Hour)) ||
		len(ch.Emails) != 1 || ch.Emails[0].To != b.r.Email || ch.Emails[0].Secrets[SecretDownload] == "" ||
		!says(ch.Emails[0], "DownloadURL", "https://rights.example.kz/d/"+SecretPlaceholder(SecretDownload)) {
		t.Errorf("download link: %+v", ch)
	}
	_, err := b.rq.SendDownloadLink(context.Background(), b.token, 1)
	var limit *LimitReached
	if !errors.As(err, &limit) || limit.Key != "error.link_emails_per_hour" || !limit.RetryAt.Equal(b.now.Truncate(time.Hour).Add(time.Hour)) {
		t.Errorf("a fourth link in the hour: %v", err)
	}
	for _, id := range []int64{0, 2} {
		if _, err := b.rq.SendDownloadLink(context.Background(), b.token, id); !errors.Is(err, ErrNotFound) && !errors.As(err, &limit) {
			t.Errorf("a link to file %d: %v", id, err)
		}
	}
	if n := len(b.store.changesOf(b.r.ID)); n != MaxLinkEmailsPerHour {
		t.Errorf("%d links sent", n)
	}
	// Another request's file, or one whose content is gone, is not found.
	other := newRequesterBench(t, Completed)
	other.store.files[other.r.ID] = []File{{ID: 1, Purpose: FileResponse, Name: "ответ.pdf"}}
	if _, err := other.rq.SendDownloadLink(context.Background(), other.token, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("a link to a deleted file: %v", err)
	}
}
