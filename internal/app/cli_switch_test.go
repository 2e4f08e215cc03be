package app_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/app"
	"rightsdesk/internal/app/apptest"
	"rightsdesk/internal/auth"
)

// The command line makes an account of one operator a member of another
// (then the switcher offers it), ends that membership, and grants and
// revokes the platform role, the deployment's flag, outside any
// operator's rows.
func TestTheCommandLineJoinsAnAccountToAnotherOperatorAndGrantsThePlatformRole(t *testing.T) {
	c := newOperatorsCLI(t)
	run := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		ctx := app.WithStdin(t.Context(), strings.NewReader(apptest.StaffPassword+"\n"))
		code := app.Main(ctx, args, func(n string) (string, bool) { v, ok := c.vars[n]; return v, ok }, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	if code, out := run("user", "add", "--email", "dana@webstapero.kz", "--name", "Дана", "--role", "admin", "--operator", "webstapero", "--platform"); code != 0 ||
		!strings.Contains(out, "granted the platform role") {
		t.Fatalf("user add --platform: exit %d, %q", code, out)
	}
	memberships := func() map[int64]auth.Role {
		st, err := c.st.For(c.ids["webstapero"]).StaffByEmail(t.Context(), "dana@webstapero.kz")
		if err != nil {
			t.Fatal(err)
		}
		if !st.Platform {
			t.Error("the account has no platform role")
		}
		ms, err := c.st.For(c.ids["webstapero"]).Memberships(t.Context(), st.ID)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int64]auth.Role{}
		for _, m := range ms {
			out[m.OperatorID] = m.Role
		}
		return out
	}
	if got := memberships(); len(got) != 1 || got[c.ids["webstapero"]] != auth.Admin {
		t.Fatalf("memberships after add: %v", got)
	}
	if code, out := run("user", "join", "--operator", "flextok", "--role", "auditor", "DANA@webstapero.kz"); code != 0 {
		t.Fatalf("user join: exit %d, %q", code, out)
	}
	if got := memberships(); len(got) != 2 || got[c.ids["flextok"]] != auth.Auditor || got[c.ids["webstapero"]] != auth.Admin {
		t.Errorf("memberships after join: %v, want admin of webstapero and auditor of flextok", got)
	}
	// user list names each operator the account works for, with its role
	// there, and the platform role.
	if code, out := run("user", "list"); code != 0 || !strings.Contains(out, "MEMBER OF (ROLE)") ||
		!strings.Contains(out, "flextok (auditor), webstapero (admin); platform") && !strings.Contains(out, "webstapero (admin), flextok (auditor); platform") {
		t.Errorf("user list after join: exit %d, %q", code, out)
	}
	if n := c.count("flextok", `SELECT count(*) FROM events WHERE kind = 'staff_joined'`); n != 1 {
		t.Errorf("flextok's trail holds %d joins, want 1", n)
	}
	if code, out := run("user", "join", "--operator", "flextok", "--role", "owner", "dana@webstapero.kz"); code == 0 {
		t.Errorf("user join with an unknown role: exit 0, %q", out)
	}
	if code, out := run("user", "join", "--operator", "flextok", "--role", "agent", "nobody@webstapero.kz"); code == 0 || !strings.Contains(out, "no staff account") {
		t.Errorf("user join of no account: exit %d, %q", code, out)
	}
	if code, out := run("user", "leave", "--operator", "flextok", "dana@webstapero.kz"); code != 0 {
		t.Fatalf("user leave: exit %d, %q", code, out)
	}
	if got := memberships(); len(got) != 1 || got[c.ids["webstapero"]] != auth.Admin {
		t.Errorf("memberships after leave: %v, want webstapero's only", got)
	}
	if code, out := run("user", "leave", "--operator", "flextok", "dana@webstapero.kz"); code == 0 || !strings.Contains(out, "no member") {
		t.Errorf("user leave again: exit %d, %q", code, out)
	}
	if code, out := run("user", "platform", "revoke", "dana@webstapero.kz"); code != 0 {
		t.Fatalf("user platform revoke: exit %d, %q", code, out)
	}
	st, err := c.st.For(c.ids["webstapero"]).StaffByEmail(t.Context(), "dana@webstapero.kz")
	if err != nil || st.Platform || st.SessionEpoch != 2 {
		t.Errorf("after revoke: platform %v, session epoch %d (%v), want no role and sessions ended", st.Platform, st.SessionEpoch, err)
	}
	if code, out := run("user", "platform", "grant", "dana@webstapero.kz"); code != 0 {
		t.Fatalf("user platform grant: exit %d, %q", code, out)
	}
	if code, _ := run("user", "platform", "promote", "dana@webstapero.kz"); code == 0 {
		t.Error("user platform promote: exit 0")
	}
}

// A deployment of one operator (no OPERATORS_FILE) is as it was: no
// switcher, and no platform page even for an account given the role.
func TestADeploymentOfOneOperatorHasNoSwitcherNorPlatformPage(t *testing.T) {
	inst := apptest.Start(t, nil)
	st := inst.AddStaff(t, "officer@school.example.kz", "Офицер", auth.Admin)
	if _, err := inst.App.Store.SetPlatform(t.Context(), st.Email, true, time.Now()); err != nil {
		t.Fatal(err)
	}
	c := inst.SignIn(t, st.Email)
	resp, page := inst.Get(t, c, "/staff")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the queue: %d", resp.StatusCode)
	}
	if strings.Contains(page, `id="switcher"`) || strings.Contains(page, "/staff/switch") || strings.Contains(page, "/staff/platform") {
		t.Error("a deployment of one operator shows the switcher or the platform page's link")
	}
	if resp, _ := inst.Get(t, c, "/staff/platform"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the platform page with one operator: %d, want 404", resp.StatusCode)
	}
	if resp, _ := inst.Post(t, c, "/staff/switch", url.Values{"_csrf": {inst.StaffToken(t, c)}, "operator": {"default"}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a switch with one operator: %d, want 404", resp.StatusCode)
	}
}
