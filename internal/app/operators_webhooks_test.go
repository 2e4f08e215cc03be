package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/opscope"
)

// hookOperator is one operator of the webhook test: its admin signed in
// on its own address, its API key, the endpoint it added in its workspace
// and the receiver behind it.
type hookOperator struct {
	world    *operatorWorld
	admin    *http.Client
	key      string
	secret   string
	receiver *hookReceiver
}

// addWebhookOn adds target as an endpoint in the workspace of host, as
// the admin c is signed in as, and returns the secret the page shows once.
func addWebhookOn(t *testing.T, c *http.Client, host, target string) string {
	t.Helper()
	form := url.Values{"_csrf": {csrfOf(t, c, host)}, "url": {target}}
	code, page := send(t, c, http.MethodPost, host, "/staff/webhooks", "application/x-www-form-urlencoded", form.Encode())
	m := secretOnWebhookPage.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		t.Fatalf("%s: add webhook: %d, secret shown: %v", host, code, m != nil)
	}
	return m[1]
}

// TestEachOperatorsWebhooksHearOnlyItsOwnRequests: two operators of one
// operators file each add an endpoint in their own workspace; the changes
// of a request at one reach that operator's receiver only, signed with its
// secret, and its deliveries are recorded under it alone.
func TestEachOperatorsWebhooksHearOnlyItsOwnRequests(t *testing.T) {
	d, srv, _, pool := operatorsOnPool(t, issueOperatorsFile, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true", "VERIFY_EMAIL": "false"})
	ctx := context.Background()
	ops := map[string]*hookOperator{}
	for slug, host := range map[string]string{"webstapero": "privacy.webstapero.kz", "flextok": "privacy.flextokxumare.kz"} {
		a, _ := d.App(slug)
		w := &operatorWorld{slug: slug, host: host, app: a}
		for _, op := range d.Operators {
			if op.Slug == slug {
				w.id = op.ID
			}
		}
		var err error
		if w.admin, err = a.Auth.CreateWithPassword(ctx, auth.AccountInput{Email: "admin@" + host, Name: "Админ " + slug,
			Role: string(auth.Admin), Locale: "ru", Password: apptest.StaffPassword}); err != nil {
			t.Fatal(err)
		}
		h := &hookOperator{world: w, admin: signInOn(t, srv, host, w.admin.Email), receiver: newHookReceiver(t)}
		h.secret = addWebhookOn(t, h.admin, host, h.receiver.URL+"/hooks/"+slug)
		_, key, err := a.APIKeys.Create(ctx, w.admin, "CRM "+slug, string(auth.Agent))
		if err != nil {
			t.Fatal(err)
		}
		h.key = key
		ops[slug] = h
	}
	web, flex := ops["webstapero"], ops["flextok"]
	// Each workspace lists its own endpoint only.
	for _, pair := range [][2]*hookOperator{{web, flex}, {flex, web}} {
		_, page := send(t, pair[0].admin, http.MethodGet, pair[0].world.host, "/staff/webhooks", "", "")
		if !strings.Contains(page, pair[0].receiver.URL) || strings.Contains(page, pair[1].receiver.URL) {
			t.Errorf("%s's webhook page: lists its own endpoint %v, %s's %v", pair[0].world.slug,
				strings.Contains(page, pair[0].receiver.URL), pair[1].world.slug, strings.Contains(page, pair[1].receiver.URL))
		}
	}

	c := hostClient(t, srv)
	file := func(h *hookOperator) string {
		t.Helper()
		body := encode(t, map[string]any{"type": "erasure", "full_name": "Айгерим Нурланқызы", "email": "aigerim@example.kz",
			"locale": "ru", "consent": true})
		code, out := send(t, c, http.MethodPost, h.world.host, "/api/v1/requests", "application/json", body)
		if code != http.StatusCreated {
			t.Fatalf("%s: intake %d: %s", h.world.slug, code, out)
		}
		return between(out, `"reference":"`, `"`)
	}
	move := func(h *hookOperator, ref string, to ...string) {
		t.Helper()
		for _, status := range to {
			body := `{"to":"` + status + `"}`
			if status == "awaiting_requester" {
				body = `{"to":"awaiting_requester","note":"Пришлите, пожалуйста, копию документа."}`
			}
			code, out := send(t, c, http.MethodPost, h.world.host, "/api/v1/requests/"+ref+"/transitions", "application/json", body,
				"Authorization", "Bearer "+h.key)
			if code != http.StatusOK {
				t.Fatalf("%s: %s to %s: %d %s", h.world.slug, ref, status, code, out)
			}
		}
	}

	// Webstapero's request changes twice; Flextok's once.
	webRef := file(web)
	move(web, webRef, "in_progress", "awaiting_requester")
	settleDeployment(t, pool, web.world, flex.world)
	if n := len(flex.receiver.received()); n != 0 {
		t.Errorf("flextok's receiver heard %d deliveries of webstapero's request", n)
	}
	flexRef := file(flex)
	move(flex, flexRef, "in_progress")
	settleDeployment(t, pool, web.world, flex.world)

	for _, c := range []struct {
		h        *hookOperator
		own      string
		other    string
		statuses []string
	}{{web, webRef, flexRef, []string{"in_progress", "awaiting_requester"}}, {flex, flexRef, webRef, []string{"in_progress"}}} {
		got := c.h.receiver.received()
		var to []string
		for i, h := range got {
			var b hookBody
			if err := json.Unmarshal(h.Body, &b); err != nil {
				t.Fatalf("%s: delivery %d: %s: %v", c.h.world.slug, i, h.Body, err)
			}
			if b.Reference != c.own || !verifyHook(c.h.secret, h) {
				t.Errorf("%s's receiver got %s (signed with its secret: %v), want its own %s only", c.h.world.slug, h.Body, verifyHook(c.h.secret, h), c.own)
			}
			if strings.Contains(string(h.Body), c.other) {
				t.Errorf("%s's receiver got the other operator's reference: %s", c.h.world.slug, h.Body)
			}
			to = append(to, b.To)
		}
		slices.Sort(to)
		want := slices.Sorted(slices.Values(c.statuses))
		if !slices.Equal(to, want) {
			t.Errorf("%s's receiver heard of changes to %v, want %v", c.h.world.slug, to, want)
		}
		// The deliveries are recorded under their operator: its scope sees
		// them delivered, and no scope sees another's.
		var delivered, others int
		sctx := opscope.With(ctx, c.h.world.id)
		if err := pool.QueryRow(sctx, `SELECT count(*) FILTER (WHERE state = 'delivered'), count(*) FILTER (WHERE operator_id <> $1)
			FROM webhook_deliveries`, c.h.world.id).Scan(&delivered, &others); err != nil {
			t.Fatal(err)
		}
		if delivered != len(c.statuses) || others != 0 {
			t.Errorf("%s: %d deliveries recorded as delivered (want %d), %d of another operator visible", c.h.world.slug, delivered, len(c.statuses), others)
		}
		_, page := send(t, c.h.admin, http.MethodGet, c.h.world.host, "/staff/webhooks", "", "")
		if !strings.Contains(page, c.own) || strings.Contains(page, c.other) {
			t.Errorf("%s's webhook page: lists its own deliveries %v, the other's %v", c.h.world.slug, strings.Contains(page, c.own), strings.Contains(page, c.other))
		}
	}
}
