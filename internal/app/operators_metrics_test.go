package app_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"rightsdesk/internal/opscope"
)

// TestMetricsCountEachOperatorsRequestsUnderItsLabel: with two operators
// of one operators file, /metrics shows each one's requests, open and
// overdue requests and unsent emails under its own operator label, as its
// own scope counts them (row-level security shows an unscoped read none),
// and the HTTP figures of both operators' addresses.
func TestMetricsCountEachOperatorsRequestsUnderItsLabel(t *testing.T) {
	d, srv, _, pool := operatorsOnPool(t, issueOperatorsFile, map[string]string{"VERIFY_EMAIL": "false"})
	ctx := context.Background()
	ids := map[string]int64{}
	for _, op := range d.Operators {
		ids[op.Slug] = op.ID
	}
	c := hostClient(t, srv)
	file := func(host, typ string) string {
		t.Helper()
		body := map[string]any{"type": typ, "full_name": "Айгерим Нурланқызы", "email": "aigerim@example.kz", "locale": "ru", "consent": true}
		if typ == "access" {
			body["access_scope"] = "copy"
		}
		code, out := send(t, c, http.MethodPost, host, "/api/v1/requests", "application/json", encode(t, body))
		if code != http.StatusCreated {
			t.Fatalf("%s: intake %d: %s", host, code, out)
		}
		return between(out, `"reference":"`, `"`)
	}
	// Webstapero: two access requests (one overdue) and an erasure;
	// Flextok: one erasure, one of whose emails failed.
	overdue := file("privacy.webstapero.kz", "access")
	file("privacy.webstapero.kz", "access")
	file("privacy.webstapero.kz", "erasure")
	flexRef := file("privacy.flextokxumare.kz", "erasure")
	settleDeployment(t, pool, &operatorWorld{id: ids["webstapero"]}, &operatorWorld{id: ids["flextok"]})
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) // the deployment's clock
	if _, err := pool.Exec(opscope.With(ctx, ids["webstapero"]), `UPDATE requests SET due_at = $2 WHERE reference = $1`, overdue, now.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if tag, err := pool.Exec(opscope.With(ctx, ids["flextok"]), `UPDATE emails SET state = 'failed'
		WHERE id = (SELECT min(e.id) FROM emails e JOIN requests r ON r.id = e.request_id WHERE r.reference = $1)`, flexRef); err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("fail flextok's email: %v, %d rows", err, tag.RowsAffected())
	}

	ops := httptest.NewServer(d.Apps[0].Metrics.OpsHandler())
	t.Cleanup(ops.Close)
	code, text := scrape(t, ops.URL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d: %s", code, text)
	}
	if up, _ := sample(text, "rightsdesk_db_scrape_up", ""); up != 1 {
		t.Fatalf("rightsdesk_db_scrape_up = %v, want 1", up)
	}
	for _, c := range []struct {
		name, labels string
		want         float64
	}{
		{"rightsdesk_requests", `operator="webstapero",status="new",type="access"`, 2},
		{"rightsdesk_requests", `operator="webstapero",status="new",type="erasure"`, 1},
		{"rightsdesk_requests", `operator="flextok",status="new",type="erasure"`, 1},
		{"rightsdesk_requests", `operator="flextok",status="new",type="access"`, 0},
		{"rightsdesk_requests_open", `operator="webstapero",type="access"`, 2},
		{"rightsdesk_requests_open", `operator="flextok",type="erasure"`, 1},
		{"rightsdesk_requests_overdue", `operator="webstapero",type="access"`, 1},
		{"rightsdesk_requests_overdue", `operator="flextok",type="erasure"`, 0},
		{"rightsdesk_emails_unsent", `operator="flextok",state="failed"`, 1},
		{"rightsdesk_emails_unsent", `operator="webstapero",state="failed"`, 0},
		{"rightsdesk_emails_unsent", `operator="webstapero",state="queued"`, 0},
		// Both operators' addresses answer into the deployment's one registry.
		{"rightsdesk_http_request_duration_seconds_count", `method="POST",route="/api/v1/requests",status="2xx"`, 4},
	} {
		if got, ok := sample(text, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s{%s} = %v (present: %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// No series of the deployment as a whole, which would read as nothing.
	if _, ok := sample(text, "rightsdesk_requests", `status="new",type="access"`); ok {
		t.Error("rightsdesk_requests has a series without an operator label")
	}
}
