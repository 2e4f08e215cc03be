package auth

import "fmt"

// Role is what a staff member may do.
type Role string

// The roles: admins do everything, agents work requests, auditors read
// everything and change nothing.
const (
	Admin   Role = "admin"
	Agent   Role = "agent"
	Auditor Role = "auditor"
)

// PlatformOnly is the role of a platform account (Staff.Platform) on the
// address of an operator it is not a member of: it holds no permission of
// the table, only its own account and the platform page (Staff.Can). It is
// never stored: a membership's role is one of Roles.
const PlatformOnly Role = "platform"

// Roles lists every role, most powerful first.
func Roles() []Role { return []Role{Admin, Agent, Auditor} }

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles() {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q (want admin, agent or auditor)", s)
}

// Perm is one thing a route or an action needs.
type Perm string

// The permissions. A write permission changes the operator's data; an
// auditor holds none of them.
const (
	// PermRequestsRead: see the queue, requests, their events and emails.
	PermRequestsRead Perm = "requests:read"
	// PermRequestsWork: assign, transition, note, extend, answer requests.
	PermRequestsWork Perm = "requests:work"
	// PermRequestsVouch: file a request for a requester whom the operator's
	// own sign-in has proved (the intake with an API key): it starts
	// confirmed, with its identity check done by the key.
	PermRequestsVouch Perm = "requests:vouch"
	// PermStaffRead: see the staff list.
	PermStaffRead Perm = "staff:read"
	// PermStaffManage: invite staff, change roles, disable and enable them.
	PermStaffManage Perm = "staff:manage"
	// PermDeadlinesRecompute: date an open request again under the policy
	// in force now (a policy change never does it by itself).
	PermDeadlinesRecompute Perm = "deadlines:recompute"
	// PermSelf: one's own account — sign out, second factor, own sessions.
	// Every role has it: securing one's account changes no one's data.
	PermSelf Perm = "self"
	// PermPlatform: the platform page, counts across every operator and no
	// row of any. No role holds it: it is the deployment's flag on an
	// account (Staff.Platform), granted on the command line.
	PermPlatform Perm = "platform"
)

// permissions is the whole access policy in one table: role → permissions.
var permissions = map[Role]map[Perm]bool{
	Admin: {
		PermRequestsRead: true, PermRequestsWork: true, PermRequestsVouch: true,
		PermStaffRead: true, PermStaffManage: true,
		PermDeadlinesRecompute: true,
		PermSelf:               true,
	},
	Agent: {
		PermRequestsRead: true, PermRequestsWork: true, PermRequestsVouch: true,
		PermSelf: true,
	},
	Auditor: {
		PermRequestsRead: true,
		PermStaffRead:    true,
		PermSelf:         true,
	},
}

// writes marks the permissions that change the operator's data.
var writes = map[Perm]bool{PermRequestsWork: true, PermRequestsVouch: true, PermStaffManage: true, PermDeadlinesRecompute: true}

// Can reports whether role holds perm. Unknown roles hold nothing.
func Can(role Role, perm Perm) bool { return permissions[role][perm] }

// Perms lists every permission (for tests and documentation).
func Perms() []Perm {
	return []Perm{PermRequestsRead, PermRequestsWork, PermRequestsVouch, PermStaffRead, PermStaffManage, PermDeadlinesRecompute, PermSelf, PermPlatform}
}

// Writes reports whether perm changes the operator's data.
func (p Perm) Writes() bool { return writes[p] }
