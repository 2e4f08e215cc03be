package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/keyring"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

// TestKeyRotationRewritesEverythingAndTheOldKeyCanGo: the operator's three
// steps from docs/operations.md, through the command line: a new key put
// first while the old one still opens, `key rotate`, then the new key alone
// reads and searches everything, including what was written before.
func TestKeyRotationRewritesEverythingAndTheOldKeyCanGo(t *testing.T) {
	ctx := context.Background()
	oldKey := testkit.EncryptionKey
	inst := apptest.Start(t, nil) // seals with oldKey
	body := validBody(request.Rectification, "kk")
	body["full_name"], body["email"], body["phone"] = "Сәуле Нұрпейісова", "saule@example.kz", "+7 701 765 43 21"
	if code, out, _ := postJSON(t, inst, encode(t, body)); code != http.StatusCreated {
		t.Fatalf("submission: %d %v", code, out)
	}
	inst.SMTP.WaitForMessages(t, 2, 10*time.Second)

	code, stdout, stderr := runCLI(inst, "", "key", "generate")
	newKey := strings.TrimSpace(stdout)
	if _, err := keyring.Parse(newKey); code != 0 || err != nil {
		t.Fatalf("key generate: exit %d, %q %q (%v)", code, stdout, stderr, err)
	}
	both := newKey + "," + oldKey
	code, stdout, stderr = runCLIWith(inst, map[string]string{"ENCRYPTION_KEY": both}, "", "key", "rotate")
	if code != 0 || !strings.Contains(stdout, "requests.personal\t1") || !strings.Contains(stdout, "alone") {
		t.Fatalf("key rotate: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// Run again: nothing left to do.
	if code, stdout, _ := runCLIWith(inst, map[string]string{"ENCRYPTION_KEY": both}, "", "key", "rotate"); code != 0 || !strings.Contains(stdout, "rotated\t0") {
		t.Errorf("second rotate: exit %d, %q", code, stdout)
	}

	// The new key alone opens and finds everything; the old one opens nothing.
	newOnly, err := keyring.Parse(newKey)
	if err != nil {
		t.Fatal(err)
	}
	s := store.New(inst.Pool, nil, newOnly)
	page, err := s.Queue(ctx, store.QueueFilter{Tab: store.TabAll, Search: "нұрпейіс"}, store.Page{Limit: 10})
	if err != nil || len(page.Rows) != 1 || page.Rows[0].FullName != "Сәуле Нұрпейісова" {
		t.Fatalf("search with the new key alone: %+v, %v", page.Rows, err)
	}
	for _, q := range []string{"saule@example.kz", "87017654321"} {
		if page, err := s.Queue(ctx, store.QueueFilter{Tab: store.TabAll, Search: q}, store.Page{Limit: 10}); err != nil || len(page.Rows) != 1 {
			t.Errorf("search %q with the new key alone: %d rows, %v", q, len(page.Rows), err)
		}
	}
	r, err := s.RequestByReference(ctx, page.Rows[0].Reference)
	if err != nil || r.Phone != "+7 701 765 43 21" {
		t.Errorf("request with the new key alone: %q, %v", r.Phone, err)
	}
	emails, err := s.EmailsOfRequest(ctx, r.ID)
	if err != nil || len(emails) != 2 || emails[0].To != "saule@example.kz" {
		t.Errorf("emails with the new key alone: %v", err)
	}
	if _, err := store.New(inst.Pool, nil, testkit.Keys()).RequestByReference(ctx, r.Reference); err == nil {
		t.Error("the old key still opens the request after the rotation")
	}
	if n, err := s.Unrotated(ctx); err != nil || n != 0 {
		t.Errorf("%d values left under the old key (%v)", n, err)
	}
	// A wrong key is named, never a crash or garbage.
	code, _, stderr = runCLIWith(inst, map[string]string{"ENCRYPTION_KEY": "not-a-key"}, "", "key", "rotate")
	if code == 0 || !strings.Contains(stderr, "ENCRYPTION_KEY") || strings.Contains(stderr, "not-a-key") {
		t.Errorf("a bad key: exit %d, %q", code, stderr)
	}
}
