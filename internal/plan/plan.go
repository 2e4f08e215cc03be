// Package plan decides what answering a request does to the operator's
// systems, shows it before anything changes, and then does exactly that.
//
// Make computes a Plan — per system and collection, how many of the
// person's rows an access would export or an erasure, rectification,
// restriction or consent withdrawal would change, which fields and how,
// what is kept and why — without changing anything. A Plan is a plain
// value, serialised as JSON, so it can be shown to staff, stored with their
// approval and executed later: ExecuteSystem runs one system's part in one
// transaction and returns the rows changed per collection. Running it again
// changes nothing: every statement only touches rows that still need it.
package plan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"rightsdesk/internal/connector"
	"rightsdesk/internal/datamap"
	"rightsdesk/internal/identifier"
)

// Type is the kind of request a plan answers.
type Type string

// The request types a plan can be made for (the names of request.Type).
const (
	Access            Type = "access"
	Portability       Type = "portability"
	Erasure           Type = "erasure"
	Rectification     Type = "rectification"
	Restriction       Type = "restriction"
	ConsentWithdrawal Type = "consent_withdrawal"
)

// Types lists the types in the order commands show them.
func Types() []Type {
	return []Type{Access, Portability, Erasure, Rectification, Restriction, ConsentWithdrawal}
}

// Changes reports whether executing the plan changes the operator's data.
func (t Type) Changes() bool { return t != Access && t != Portability }

// What a collection's step does.
const (
	ActionExport = "export" // access, portability: the rows go into the access package
	ActionUpdate = "update" // fields are set (erasure's null, value, hash; a correction; a flag)
	ActionDelete = "delete" // the rows are deleted
	ActionKeep   = "keep"   // every field is exempt from erasure: nothing changes
	ActionCall   = "call"   // the operator's HTTP system is asked to act
)

// How a field is treated.
const (
	FieldExport  = "export"
	FieldNull    = "null"
	FieldValue   = "value"
	FieldHash    = "hash"
	FieldDelete  = "delete"
	FieldKeep    = "keep"
	FieldSet     = "set"     // a restriction or withdrawal flag
	FieldCorrect = "correct" // rectification
)

// Plan is what answering a request would do.
type Plan struct {
	Type Type `json:"type"`
	// MapDigest is the data map the plan was made under; executing it
	// under another map is refused.
	MapDigest string `json:"map_digest"`
	// Identity is the requester's, normalised: the rows are theirs.
	Identity identifier.Identity `json:"identity"`
	// Corrections are the corrected values a rectification applies, at
	// most one per field.
	Corrections []Correction `json:"corrections,omitempty"`
	Systems     []System     `json:"systems"`
}

// Digest identifies what the plan does: its type, map, identity,
// corrections and, per system and collection, the rows, fields and action.
// Staff approve a plan by its digest; a plan made again that differs in
// anything (a row more to erase, another map) has another one.
func (p Plan) Digest() string {
	b, err := json.Marshal(p)
	if err != nil {
		// A Plan holds strings, numbers and slices of them: it always marshals.
		panic(fmt.Sprintf("plan: marshal: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Correction is a corrected value for one field.
type Correction struct {
	Collection string `json:"collection"`
	Field      string `json:"field"`
	Value      string `json:"value"`
}

// System is one system's part of a plan: one step, one transaction.
type System struct {
	Name        string       `json:"name"`
	Kind        string       `json:"kind"`
	Collections []Collection `json:"collections"`
}

// Collection is what the plan does to one collection. Rows is how many of
// the person's rows it would export or change (for keep: hold).
type Collection struct {
	Name   string  `json:"name"`
	Rows   int64   `json:"rows"`
	Fields []Field `json:"fields"`
	Action string  `json:"action"`
	// Call is the HTTP system's action name, for ActionCall.
	Call string `json:"call,omitempty"`
}

// Field is what the plan does to one field.
type Field struct {
	Name   string `json:"name"`
	Change string `json:"change"`
	// Reason and KeepFor say why and how long a kept field stays.
	Reason  string `json:"reason,omitempty"`
	KeepFor string `json:"keep_for,omitempty"`
}

// Errors of Make and Execute.
var (
	ErrEmptyIdentity = errors.New("plan: the identity matches nothing (no email, phone or account id)")
	ErrStale         = errors.New("plan: the data map changed since this plan was made: make a new plan and have it approved")
	ErrNothingToDo   = errors.New("plan: the data map has no action for this request type")
	// ErrCorrection is a rectification without corrections, or with one
	// the map cannot apply (an unknown collection or field, a field twice).
	ErrCorrection = errors.New("plan: the corrections cannot be applied")
)

// Make computes the plan for a request of type t from the person id,
// counting rows in one read-only transaction per system. Nothing changes.
// corrs are the corrections of a rectification, nil otherwise.
func Make(ctx context.Context, sys *connector.Systems, t Type, id identifier.Identity, corrs []Correction) (Plan, error) {
	m := sys.Map()
	id = id.Normalized()
	if id.Empty() {
		return Plan{}, ErrEmptyIdentity
	}
	p := Plan{Type: t, MapDigest: m.Digest, Identity: id, Corrections: corrs, Systems: []System{}}
	steps, err := steps(m, t, corrs)
	if err != nil {
		return Plan{}, err
	}
	r := sys.Read(id)
	defer r.Close()
	for _, s := range m.Systems {
		ps := System{Name: s.Name, Kind: string(s.Kind), Collections: []Collection{}}
		for _, st := range steps {
			if st.system != s {
				continue
			}
			pc := st.planned
			switch {
			case st.call != nil:
				// An HTTP action is one call per identity: no rows to count.
			case st.change == nil:
				n, err := r.Count(ctx, st.collection)
				if err != nil {
					return Plan{}, err
				}
				pc.Rows = n
			default:
				n, err := r.CountChange(ctx, *st.change)
				if err != nil {
					return Plan{}, err
				}
				pc.Rows = n
			}
			ps.Collections = append(ps.Collections, pc)
		}
		if len(ps.Collections) > 0 {
			p.Systems = append(p.Systems, ps)
		}
	}
	if len(p.Systems) == 0 {
		return Plan{}, ErrNothingToDo
	}
	return p, nil
}

// step is one collection's part, with what connector needs to do it.
type step struct {
	system     *datamap.System
	collection *datamap.Collection
	planned    Collection
	change     *connector.Change // nil: export, keep or call
	call       *datamap.Action
}

// steps derives, from the map alone, what type t does to each collection:
// the same at Make and at Execute, which is why a plan records only the
// map's digest and not SQL.
func steps(m *datamap.Map, t Type, corrs []Correction) ([]step, error) {
	var out []step
	switch t {
	case Access, Portability:
		for _, c := range m.Collections {
			pc := Collection{Name: c.Name, Action: ActionExport, Fields: []Field{}}
			for _, f := range c.Fields {
				pc.Fields = append(pc.Fields, Field{Name: f.Name, Change: FieldExport})
			}
			out = append(out, step{system: c.System, collection: c, planned: pc})
		}
	case Erasure:
		for _, c := range m.Collections {
			out = append(out, erasureStep(c))
		}
	case Rectification:
		if len(corrs) == 0 {
			return nil, fmt.Errorf("%w: a rectification needs a correction (collection, field, value)", ErrCorrection)
		}
		// One change per collection, in the map's order, setting each
		// corrected field of it.
		byCollection := map[*datamap.Collection]*step{}
		seen := map[[2]string]bool{}
		for _, corr := range corrs {
			c := m.Collection(corr.Collection)
			if c == nil {
				return nil, fmt.Errorf("%w: the data map has no collection %q", ErrCorrection, corr.Collection)
			}
			if c.Field(corr.Field) == nil {
				return nil, fmt.Errorf("%w: collection %s has no field %q", ErrCorrection, c.Name, corr.Field)
			}
			if seen[[2]string{c.Name, corr.Field}] {
				return nil, fmt.Errorf("%w: field %s.%s is corrected twice", ErrCorrection, c.Name, corr.Field)
			}
			seen[[2]string{c.Name, corr.Field}] = true
			st := byCollection[c]
			if st == nil {
				st = &step{system: c.System, collection: c, change: &connector.Change{Collection: c},
					planned: Collection{Name: c.Name, Action: ActionUpdate, Fields: []Field{}}}
				byCollection[c] = st
			}
			st.change.Set = append(st.change.Set, connector.Assignment{Column: corr.Field, Op: connector.SetValue, Value: corr.Value})
			st.planned.Fields = append(st.planned.Fields, Field{Name: corr.Field, Change: FieldCorrect})
		}
		for _, c := range m.Collections {
			if st := byCollection[c]; st != nil {
				out = append(out, *st)
			}
		}
	case Restriction, ConsentWithdrawal:
		for _, c := range m.Collections {
			a := c.Action(string(t))
			switch {
			case a == nil:
			case a.HTTP != nil:
				out = append(out, step{system: a.HTTP, collection: c, call: a,
					planned: Collection{Name: c.Name, Action: ActionCall, Call: a.Name, Fields: []Field{}}})
			default:
				ch := &connector.Change{Collection: c, Set: []connector.Assignment{{Column: a.Set, Op: connector.SetValue, Value: a.Value}}}
				out = append(out, step{system: c.System, collection: c, change: ch,
					planned: Collection{Name: c.Name, Action: ActionUpdate, Fields: []Field{{Name: a.Set, Change: FieldSet}}}})
			}
		}
	default:
		return nil, fmt.Errorf("plan: unknown request type %q", t)
	}
	return out, nil
}

func erasureStep(c *datamap.Collection) step {
	pc := Collection{Name: c.Name, Fields: []Field{}}
	ch := &connector.Change{Collection: c}
	if c.Deletes() {
		ch.Delete = true
		pc.Action = ActionDelete
		for _, f := range c.Fields {
			pc.Fields = append(pc.Fields, Field{Name: f.Name, Change: FieldDelete})
		}
		return step{system: c.System, collection: c, planned: pc, change: ch}
	}
	for _, f := range c.Fields {
		pf := Field{Name: f.Name, Change: string(f.Erase)}
		switch f.Erase {
		case datamap.EraseNull:
			ch.Set = append(ch.Set, connector.Assignment{Column: f.Name, Op: connector.SetNull})
		case datamap.EraseValue:
			ch.Set = append(ch.Set, connector.Assignment{Column: f.Name, Op: connector.SetValue, Value: f.Value})
		case datamap.EraseHash:
			ch.Set = append(ch.Set, connector.Assignment{Column: f.Name, Op: connector.SetHash})
		case datamap.EraseKeep:
			pf.Reason, pf.KeepFor = f.Reason, f.KeepFor.String()
		}
		pc.Fields = append(pc.Fields, pf)
	}
	if len(ch.Set) == 0 {
		// Everything is kept: count the rows held, change nothing.
		pc.Action = ActionKeep
		return step{system: c.System, collection: c, planned: pc}
	}
	pc.Action = ActionUpdate
	return step{system: c.System, collection: c, planned: pc, change: ch}
}

// Result is what executing one system's part did.
type Result struct {
	System string `json:"system"`
	// Rows is the rows changed per collection.
	Rows map[string]int64 `json:"rows,omitempty"`
	// Calls are the HTTP system's answers per collection.
	Calls map[string]connector.ActionResult `json:"calls,omitempty"`
}

// Options are what execution needs beyond the plan.
type Options struct {
	// HashKey is the key of keyed-hash erasure (hash_key_env).
	HashKey []byte
	// StepID names the step for an HTTP system, the same on every retry.
	StepID string
	// CallbackURL is where an HTTP system may POST a late outcome.
	CallbackURL string
}

// ExecuteSystem runs the plan's part for one system: for a database, every
// change in one transaction (nothing is changed when it fails); for an HTTP
// system, one signed call. The plan must have been made under the systems'
// map. A retryable failure is a *connector.SystemError whose Retryable says so.
func ExecuteSystem(ctx context.Context, sys *connector.Systems, p Plan, system string, opts Options) (Result, error) {
	m := sys.Map()
	if p.MapDigest != m.Digest {
		return Result{}, ErrStale
	}
	s := m.System(system)
	if s == nil {
		return Result{}, fmt.Errorf("plan: the data map has no system %q", system)
	}
	var planned *System
	for i := range p.Systems {
		if p.Systems[i].Name == system {
			planned = &p.Systems[i]
		}
	}
	if planned == nil {
		return Result{System: system}, nil // nothing for this system
	}
	all, err := steps(m, p.Type, p.Corrections)
	if err != nil {
		return Result{}, err
	}
	approved := map[string]bool{}
	for _, c := range planned.Collections {
		approved[c.Name] = true
	}
	res := Result{System: system}
	if s.Kind == datamap.HTTP {
		h, err := sys.HTTP(system)
		if err != nil {
			return Result{}, err
		}
		res.Calls = map[string]connector.ActionResult{}
		for _, st := range all {
			if st.system != s || st.call == nil || !approved[st.collection.Name] {
				continue
			}
			ar, err := h.Call(ctx, connector.ActionRequest{
				ID: opts.StepID, Action: st.call.Name, Identity: p.Identity,
				Collections: []string{st.collection.Name}, CallbackURL: opts.CallbackURL,
			})
			if err != nil {
				return Result{}, err
			}
			res.Calls[st.collection.Name] = ar
		}
		return res, nil
	}
	if !p.Type.Changes() {
		return res, nil
	}
	var changes []connector.Change
	for _, st := range all {
		if st.system == s && st.change != nil && approved[st.collection.Name] {
			changes = append(changes, *st.change)
		}
	}
	rows, err := sys.Apply(ctx, system, p.Identity, changes, opts.HashKey)
	if err != nil {
		return Result{}, err
	}
	res.Rows = rows
	return res, nil
}

// Execute runs every system's part in turn, stopping at the first failure
// (the systems done so far stay done; ExecuteSystem again resumes).
func Execute(ctx context.Context, sys *connector.Systems, p Plan, opts Options) ([]Result, error) {
	var out []Result
	for _, s := range p.Systems {
		r, err := ExecuteSystem(ctx, sys, p, s.Name, opts)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}
