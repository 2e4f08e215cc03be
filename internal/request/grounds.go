package request

import (
	"slices"

	"rightsdesk/internal/deadline"
)

// A request is refused on a ground of its own rule set: the preset that
// dated it (Request.RuleSet), whose grounds carry their legal references.
// A ground of another law is no ground at all.

// RejectionReasons are every ground any rule set offers (the API's list,
// and the codes older records may hold). A request is refused only on a
// ground of its own rule set: Desk.RejectionGrounds.
func RejectionReasons() []string {
	var out []string
	for _, preset := range deadline.PresetNames() {
		for _, g := range deadline.GroundsOf(preset) {
			if !slices.Contains(out, g.Code) {
				out = append(out, g.Code)
			}
		}
	}
	return out
}

// RuleSet is the rule set r was dated by, the deployment's preset for
// records that do not name their own.
func (d *Desk) RuleSet(r Request) string { return r.RuleSet(d.Config.Preset) }

// RejectionGrounds are the grounds staff may refuse r on: those of its
// rule set, with their legal references.
func (d *Desk) RejectionGrounds(r Request) []deadline.Ground {
	return deadline.GroundsOf(d.RuleSet(r))
}

// rejectionGround finds code among r's grounds.
func (d *Desk) rejectionGround(r Request, code string) (deadline.Ground, bool) {
	for _, g := range d.RejectionGrounds(r) {
		if g.Code == code {
			return g, true
		}
	}
	return deadline.Ground{}, false
}
