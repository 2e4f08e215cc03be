package jobs

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"rightsdesk/internal/config"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

// proof is a representative's authority document.
func proof() request.File {
	content := []byte("%PDF-1.7\n")
	sum := sha256.Sum256(content)
	return request.File{Purpose: request.FileProof, Name: "доверенность.pdf", ContentType: "application/pdf",
		Size: int64(len(content)), SHA256: sum[:], Content: content}
}

// closedAt files a request with a proof file and closes it at closed.
func (f *fixture) closedAt(t *testing.T, email string, closed time.Time) filed {
	t.Helper()
	r := f.file(t, email, true, proof())
	if _, err := f.pool.Exec(context.Background(), `UPDATE requests SET status = 'completed', closed_at = $2 WHERE id = $1`, r.id, closed); err != nil {
		t.Fatal(err)
	}
	return r
}

// A backlog (the first run on an old database) is worked through in
// batches until none is left; personal data goes first, so a request past
// both periods is purged once rather than having its files deleted first;
// a second run at the same time changes nothing; the log has counts only.
func TestTheRetentionSweepWorksThroughABacklogInBatches(t *testing.T) {
	f := newFixture(t)
	var logs testkit.Buffer
	sweep := &RetentionSweep{Store: f.store, Files: config.Age{Days: 120}, Personal: config.Age{Years: 3},
		Logger: slogTo(&logs), BatchSize: 2}
	var old, filesOnly []filed
	for i := range 5 {
		old = append(old, f.closedAt(t, "old"+string(rune('a'+i))+"@example.kz", at.AddDate(-4, 0, 0)))
	}
	for i := range 3 {
		filesOnly = append(filesOnly, f.closedAt(t, "mid"+string(rune('a'+i))+"@example.kz", at.AddDate(0, 0, -200)))
	}
	recent := f.closedAt(t, "recent@example.kz", at.AddDate(0, 0, -10))
	open := f.file(t, "open@example.kz", true, proof())

	res, err := sweep.Run(context.Background(), at)
	if err != nil {
		t.Fatal(err)
	}
	want := RetentionResult{FilesRequests: 3, FilesDeleted: 3, Purged: store.PurgeBatch{Requests: 5, Files: 5}}
	if res.FilesRequests != want.FilesRequests || res.FilesDeleted != want.FilesDeleted || res.Purged.Requests != 5 || res.Purged.Files != 5 {
		t.Errorf("the sweep did %+v, want %+v", res, want)
	}
	for _, r := range old {
		if n := f.count(t, `SELECT count(*) FROM requests WHERE id = $1 AND purged_at IS NOT NULL AND personal IS NULL`, r.id); n != 1 {
			t.Errorf("%s past the retention period was not purged", r.reference)
		}
		if n := f.count(t, `SELECT count(*) FROM events WHERE request_id = $1 AND kind = 'files_deleted'`, r.id); n != 0 {
			t.Errorf("%s: its files were deleted before its purge, logged twice", r.reference)
		}
	}
	for _, r := range filesOnly {
		if n := f.count(t, `SELECT count(*) FROM files WHERE request_id = $1 AND content IS NULL`, r.id); n != 1 {
			t.Errorf("%s past the file period keeps its file", r.reference)
		}
		if n := f.count(t, `SELECT count(*) FROM requests WHERE id = $1 AND purged_at IS NULL`, r.id); n != 1 {
			t.Errorf("%s was purged before the retention period", r.reference)
		}
	}
	for _, r := range []filed{recent, open} {
		if n := f.count(t, `SELECT count(*) FROM files WHERE request_id = $1 AND content IS NOT NULL`, r.id); n != 1 {
			t.Errorf("%s lost its file before the file period", r.reference)
		}
	}
	if again, err := sweep.Run(context.Background(), at); err != nil || again != (RetentionResult{}) {
		t.Errorf("a second run: %+v %v, want nothing done", again, err)
	}
	for _, r := range append(append(old, filesOnly...), recent) {
		if strings.Contains(logs.String(), r.reference) {
			t.Errorf("the log names %s", r.reference)
		}
	}
	if !strings.Contains(logs.String(), "requests_purged=5") {
		t.Errorf("the log does not count what was purged: %s", logs.String())
	}
}

// The periodic job runs the sweep at its clock's now.
func TestTheRetentionJobSweepsAtItsNow(t *testing.T) {
	f := newFixture(t)
	r := f.closedAt(t, "old@example.kz", at.AddDate(-4, 0, 0))
	sweep := &RetentionSweep{Store: f.store, Files: config.Age{Days: 120}, Personal: config.Age{Years: 3}}
	if res := workOnce(t, f, &RetentionWorker{Sweep: sweep, Now: func() time.Time { return at.AddDate(-1, 0, 0) }}, RetentionArgs{}); res.EventKind != river.EventKindJobCompleted {
		t.Fatalf("the job ended %s", res.EventKind)
	}
	if n := f.count(t, `SELECT count(*) FROM requests WHERE purged_at IS NOT NULL`); n != 0 {
		t.Fatal("a request closed three years before the job's now was purged")
	}
	workOnce(t, f, &RetentionWorker{Sweep: sweep, Now: fixedNow}, RetentionArgs{})
	if n := f.count(t, `SELECT count(*) FROM requests WHERE id = $1 AND purged_at = $2`, r.id, at); n != 1 {
		t.Error("the request was not purged at the job's now")
	}
}
