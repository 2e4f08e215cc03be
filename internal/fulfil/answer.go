package fulfil

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"rightsdesk/internal/accesspack"
	"rightsdesk/internal/datamap"
	"rightsdesk/internal/i18n"
	"rightsdesk/internal/plan"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

// AnswerFulfilment implements request.FulfilmentReader: how answering r
// from the data map stands, the access package to send when there is one,
// and what the executed plans changed and kept, worded in r.Locale.
func (s *Service) AnswerFulfilment(ctx context.Context, r request.Request) (request.Fulfilment, error) {
	cur, err := s.Store.Current(ctx, r.ID)
	if err != nil || cur == nil {
		return request.Fulfilment{}, err
	}
	out := request.Fulfilment{Started: true, Done: cur.Done()}
	if cur.Kind == store.FulfilGather {
		if !cur.PackageAt.IsZero() {
			content, err := s.Store.Package(ctx, r.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return request.Fulfilment{}, err
			}
			if content != nil {
				out.Package = &request.File{
					Purpose: request.FileResponse, Name: PackageName(r.Reference), ContentType: "application/zip",
					Size: int64(len(content)), SHA256: cur.PackageSHA256, Content: content,
				}
			}
		}
		return out, nil
	}
	runs, err := s.Store.Executions(ctx, r.ID)
	if err != nil {
		return request.Fulfilment{}, err
	}
	out.Outcome = s.outcome(s.Catalog.Printer(r.Locale), runs)
	return out, nil
}

// PackageName is the access package's file name, as staff and the
// requester see it.
func PackageName(reference string) string { return "personal-data-" + reference + ".zip" }

// outcome words what the executions changed and what they kept and why:
// for each collection of the map, the rows the steps changed in all runs
// together, and, where the person had rows, the fields erasure keeps.
func (s *Service) outcome(p *i18n.Printer, runs []store.Fulfilment) []string {
	m := s.Map()
	lang := string(p.Locale())
	type seen struct {
		action string
		fields []plan.Field
		typ    plan.Type
		held   bool
	}
	changed := map[string]int64{}
	called := map[string]bool{}
	planned := map[string]*seen{}
	for _, f := range runs {
		var pl plan.Plan
		if json.Unmarshal(f.Plan, &pl) != nil {
			continue // purged
		}
		done := map[string]store.Step{}
		for _, st := range f.Steps {
			if st.State == store.StepDone {
				done[st.System] = st
			}
		}
		for _, ps := range pl.Systems {
			st, ok := done[ps.Name]
			for _, c := range ps.Collections {
				sn := planned[c.Name]
				if sn == nil {
					sn = &seen{action: c.Action, fields: c.Fields, typ: pl.Type}
					planned[c.Name] = sn
				}
				if c.Rows > 0 {
					sn.held = true
				}
				if !ok {
					continue
				}
				// A step run again after a crash changes nothing more and
				// says 0: what the approved plan counted is what is gone.
				n := st.Result.Rows[c.Name]
				if c.Action == plan.ActionDelete || c.Action == plan.ActionUpdate {
					n = max(n, c.Rows)
				}
				changed[c.Name] += n
				// A step is done only once every action it asked for is
				// (at once, polled or called back).
				if c.Action == plan.ActionCall {
					called[c.Name] = true
				}
			}
		}
	}
	var did, kept []string
	for _, c := range m.Collections {
		sn := planned[c.Name]
		if sn == nil {
			continue
		}
		label := collectionLabel(c, lang)
		n := changed[c.Name]
		switch {
		case sn.action == plan.ActionDelete && n > 0:
			did = append(did, p.N("fulfil.outcome.deleted", int(n), "Collection", label))
		case sn.action == plan.ActionUpdate && n > 0:
			switch sn.typ {
			case plan.Erasure:
				did = append(did, p.N("fulfil.outcome.erased", int(n), "Collection", label, "Fields", fieldLabels(c, sn.fields, lang, plan.FieldNull, plan.FieldValue, plan.FieldHash)))
			case plan.Rectification:
				did = append(did, p.N("fulfil.outcome.corrected", int(n), "Collection", label, "Fields", fieldLabels(c, sn.fields, lang, plan.FieldCorrect)))
			default:
				did = append(did, p.T("fulfil.outcome."+string(sn.typ), "Collection", label))
			}
		case sn.action == plan.ActionCall && called[c.Name]:
			did = append(did, p.T("fulfil.outcome."+string(sn.typ), "Collection", label))
		}
		if sn.typ != plan.Erasure || !sn.held && n == 0 {
			continue
		}
		for _, pf := range sn.fields {
			f := c.Field(pf.Name)
			if pf.Change != plan.FieldKeep || f == nil {
				continue
			}
			kept = append(kept, p.T("fulfil.outcome.kept", "Field", fieldLabel(f, lang), "Collection", label,
				"Period", accesspack.Period(p, f.KeepFor), "Reason", m.Reasons[f.Reason].In(lang)))
		}
	}
	return append(did, kept...)
}

func collectionLabel(c *datamap.Collection, lang string) string {
	if l := c.Label.In(lang); l != "" {
		return l
	}
	return c.Name
}

func fieldLabel(f *datamap.Field, lang string) string {
	if l := f.Label.In(lang); l != "" {
		return l
	}
	return f.Name
}

// fieldLabels lists, in the requester's language, the fields of pfs that
// change in one of the ways given.
func fieldLabels(c *datamap.Collection, pfs []plan.Field, lang string, changes ...string) string {
	var out []string
	for _, pf := range pfs {
		for _, ch := range changes {
			if pf.Change == ch {
				if f := c.Field(pf.Name); f != nil {
					out = append(out, fieldLabel(f, lang))
				} else {
					out = append(out, pf.Name)
				}
			}
		}
	}
	return strings.Join(out, ", ")
}

// View is how answering a request from the data map stands, for the
// request page and the staff API.
type View struct {
	// Covered: the data map has something to do for the request's type.
	Covered bool
	// Gathers: the request is answered by a gathering (else by a plan).
	Gathers bool
	// Blocked is why the systems may not be touched for the request now
	// (request.CheckFulfilment), nil when they may.
	Blocked error
	// Current is the request's current fulfilment, nil for none.
	Current *store.Fulfilment
	// Plan is what Current runs (for an execution: what was approved).
	Plan *plan.Plan
	// Summary is the built package's, for staff to review.
	Summary *accesspack.Summary
	// Stale: Current was made under another data map than today's.
	Stale bool
	// Unfinished: a step of Current is pending, running or waiting.
	Unfinished bool
}

// View reads how answering r from the data map stands.
func (s *Service) View(ctx context.Context, r request.Request) (View, error) {
	v := View{Covered: s.Covers(r.Type), Gathers: Gathers(r.Type)}
	if !v.Covered {
		return v, nil
	}
	v.Blocked = s.CheckFulfilment(ctx, r)
	if v.Blocked != nil && !errors.Is(v.Blocked, request.ErrIdentityNotEstablished) && !errors.Is(v.Blocked, request.ErrTransitionNotAllowed) {
		return v, v.Blocked
	}
	cur, err := s.Store.Current(ctx, r.ID)
	if err != nil || cur == nil {
		return v, err
	}
	v.Current, v.Stale, v.Unfinished = cur, cur.MapDigest != s.Map().Digest, unfinished(*cur)
	if len(cur.Plan) > 0 {
		var p plan.Plan
		if err := json.Unmarshal(cur.Plan, &p); err == nil {
			v.Plan = &p
		}
	}
	if len(cur.Summary) > 0 {
		var sum accesspack.Summary
		if err := json.Unmarshal(cur.Summary, &sum); err == nil {
			v.Summary = &sum
		}
	}
	return v, nil
}

// StaffPackage returns the current access package of r to a member of
// staff, logging the download.
func (s *Service) StaffPackage(ctx context.Context, r request.Request, staffID int64) ([]byte, error) {
	return s.Store.StaffPackage(ctx, r.ID, staffID, s.Clock.Now())
}
