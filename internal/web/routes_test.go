package web

import (
	"slices"
	"strings"
	"testing"

	"rightsdesk/internal/auth"
)

// TestEveryRouteIsInTheTableOnceWithAKnownAccessLevel: a second row for a
// method and path would silently replace the first door in Echo's router,
// and an access level the tests in internal/app do not know would be
// walked by none of them.
func TestEveryRouteIsInTheTableOnceWithAKnownAccessLevel(t *testing.T) {
	s := &Server{cfg: Config{FormBodyLimit: "64K", APIBodyLimit: "64K"}}
	seen := map[string]bool{}
	for _, r := range s.routeTable() {
		key := r.method + " " + r.path
		if seen[key] {
			t.Errorf("%s is in the table twice", key)
		}
		seen[key] = true
		if r.handler == nil {
			t.Errorf("%s has no handler", key)
		}
		switch a := r.door.access; {
		case a == accessPublic:
			// The ways in: the sign-in, an invitation's link, a switcher's handoff.
			if strings.HasPrefix(r.path, "/staff") && !strings.HasPrefix(r.path, "/staff/login") && !strings.HasPrefix(r.path, "/staff/password/") &&
				!strings.HasPrefix(r.path, "/staff/switch/") {
				t.Errorf("%s: a staff page open to anyone", key)
			}
		case a == accessDev:
			if len(r.door.chain) == 0 {
				t.Errorf("%s: a dev route with nothing in front of it", key)
			}
		default:
			perm := ""
			for _, prefix := range []string{accessPublicOrAPIKey, accessStaff, accessAPIKey} {
				if p, ok := strings.CutPrefix(a, prefix); ok {
					perm = p
					break
				}
			}
			if !slices.Contains(auth.Perms(), auth.Perm(perm)) {
				t.Errorf("%s: access %q names no known level and permission", key, a)
			}
			if len(r.door.chain) == 0 {
				t.Errorf("%s: access %q with nothing in front of the handler", key, a)
			}
		}
	}
	if !seen["GET /"] || !seen["POST /api/v1/requests"] || !seen["GET /staff"] {
		t.Errorf("the table misses the landing page, the intake or the staff home: %d routes", len(seen))
	}
}
