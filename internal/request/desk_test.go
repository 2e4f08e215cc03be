package request

import (
	"context"
	"errors"
	"testing"
	"time"
)

type staffDirectory map[int64]StaffMember

func (d staffDirectory) StaffMember(_ context.Context, id int64) (StaffMember, error) {
	m, ok := d[id]
	if !ok {
		return StaffMember{}, ErrNotFound
	}
	return m, nil
}

// recordingRepo applies a change to one open request and keeps it.
type recordingRepo struct {
	changes []Change
}

func (r *recordingRepo) ChangeRequest(_ context.Context, _ RequestKey, decide func(Request) (Change, error)) (Request, error) {
	req := Request{ID: 1, Reference: "RD-TEST-TEST-TEST", Status: InProgress, Email: "a@example.kz", Locale: Russian}
	ch, err := decide(req)
	if err != nil {
		return Request{}, err
	}
	r.changes = append(r.changes, ch)
	return req, nil
}

type plainComposer struct{}

func (plainComposer) Compose(kind string, _ Locale, _ map[string]any) (string, string, string, error) {
	return kind, kind, "<p>" + kind + "</p>", nil
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func TestOnlyStaffWhoWorkRequestsCanBeAssigned(t *testing.T) {
	dir := staffDirectory{
		1: {ID: 1, Name: "Админ", Email: "admin@example.kz", Locale: Russian, Active: true, CanWork: true},
		2: {ID: 2, Name: "Исполнитель", Email: "agent@example.kz", Locale: Kazakh, Active: true, CanWork: true},
		3: {ID: 3, Name: "Аудитор", Email: "auditor@example.kz", Locale: Russian, Active: true, CanWork: false},
		4: {ID: 4, Name: "Ушедший", Email: "gone@example.kz", Locale: Russian, Active: false, CanWork: true},
	}
	for _, tc := range []struct {
		to   int64
		want error
	}{
		{2, nil},
		{0, nil}, // nobody
		{3, ErrNotAssignable},
		{4, ErrUnknownStaff},
		{99, ErrUnknownStaff},
	} {
		repo := &recordingRepo{}
		d := &Desk{Repo: repo, Staff: dir, Composer: plainComposer{}, Clock: fixedClock{time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)},
			Links: Links{BaseURL: "https://rights.example.kz"}}
		_, err := d.Assign(context.Background(), "RD-TEST-TEST-TEST", 1, tc.to)
		if !errors.Is(err, tc.want) {
			t.Errorf("assign to %d: %v, want %v", tc.to, err, tc.want)
			continue
		}
		if tc.want != nil && len(repo.changes) != 0 {
			t.Errorf("assign to %d was refused, yet the request changed: %+v", tc.to, repo.changes)
		}
		if tc.want == nil && (len(repo.changes) != 1 || *repo.changes[0].Assign != tc.to) {
			t.Errorf("assign to %d: changes %+v", tc.to, repo.changes)
		}
	}
}
