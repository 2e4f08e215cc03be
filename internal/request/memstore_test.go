package request

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"rightsdesk/internal/deadline"
)

// The domain's services are tested here against memStore, an in-memory
// implementation of the repository interfaces they are given: what the
// store does in one transaction, memStore does under one lock, and a
// decision that fails changes nothing. It is not a model of PostgreSQL
// (internal/store's tests and internal/app's run against a real one); it
// keeps just enough to carry a request through several actions, so that a
// test reads as the journey it protects.

// applied is one change memStore applied, to the request it names.
type applied struct {
	requestID int64
	from      Status
	change    Change
}

// memConfirmation is a confirmation link memStore holds.
type memConfirmation struct {
	requestID int64
	expiresAt time.Time
	usedAt    time.Time
}

// memReply is a reply memStore counted, through the link it came by.
type memReply struct {
	requestID int64
	link      string
	at        time.Time
	stored    int64
}

// memIdempotency is a submission memStore keeps by its key.
type memIdempotency struct {
	requestID int64
	body      []byte
}

type memStore struct {
	mu            sync.Mutex
	requests      map[int64]*Request
	nextID        int64
	statusLinks   map[string]int64 // hash → request, while not revoked
	revokedLinks  map[string]int64
	confirmations map[string]*memConfirmation
	idempotency   map[string]memIdempotency
	acks          map[string]int // address and day → acknowledgements
	replies       []memReply
	files         map[int64][]File
	changes       []applied
	created       []NewRequest
	staff         map[int64]StaffMember
	// hits are counted apart, as the store counts them outside the
	// request's transaction.
	hitsMu sync.Mutex
	hits   map[string]int
	notes  []memNote
	// takenReferences makes the next CreateRequest calls collide.
	takenReferences int
}

type memNote struct {
	requestID int64
	by        StaffActor
	body      string
	at        time.Time
}

func newMemStore() *memStore {
	return &memStore{
		requests: map[int64]*Request{}, statusLinks: map[string]int64{}, revokedLinks: map[string]int64{},
		confirmations: map[string]*memConfirmation{}, idempotency: map[string]memIdempotency{},
		acks: map[string]int{}, files: map[int64][]File{}, staff: map[int64]StaffMember{}, hits: map[string]int{},
	}
}

// add stores r as it stands, with a status link of hash link (none when
// empty), and returns it with its id.
func (m *memStore) add(r Request, link []byte) Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextID++
	r.ID = m.nextID
	if r.Reference == "" {
		ref, err := NewReference(nil)
		if err != nil {
			panic(err)
		}
		r.Reference = ref
	}
	m.requests[r.ID] = &r
	if link != nil {
		m.statusLinks[string(link)] = r.ID
	}
	return r
}

func (m *memStore) request(id int64) Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.requests[id]
}

// changesOf are the changes applied to the request, oldest first.
func (m *memStore) changesOf(id int64) []Change {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Change
	for _, a := range m.changes {
		if a.requestID == id {
			out = append(out, a.change)
		}
	}
	return out
}

// last is the last change applied to the request; the test fails when
// there is none.
func (m *memStore) last(t *testing.T, id int64) Change {
	t.Helper()
	chs := m.changesOf(id)
	if len(chs) == 0 {
		t.Fatalf("request %d: nothing applied", id)
	}
	return chs[len(chs)-1]
}

// emails are every email recorded, at intake and with changes.
func (m *memStore) emails() []OutboxEmail {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []OutboxEmail
	for _, nr := range m.created {
		out = append(out, nr.Emails...)
	}
	for _, a := range m.changes {
		out = append(out, a.change.Emails...)
	}
	return out
}

func (m *memStore) find(key RequestKey) (*Request, error) {
	switch {
	case key.ID != 0:
		if r, ok := m.requests[key.ID]; ok {
			return r, nil
		}
	case key.StatusTokenHash != nil:
		if id, ok := m.statusLinks[string(key.StatusTokenHash)]; ok {
			return m.requests[id], nil
		}
	case key.Reference != "":
		for _, r := range m.requests {
			if r.Reference == key.Reference {
				return r, nil
			}
		}
	}
	return nil, ErrNotFound
}

// apply records ch on r, as the store's one transaction would.
func (m *memStore) apply(r *Request, ch Change) error {
	if ch.Download != nil && ch.Download.FileID != 0 {
		found := false
		for _, f := range m.files[r.ID] {
			found = found || (f.ID == ch.Download.FileID && f.Purpose == FileResponse && f.Content != nil)
		}
		if !found {
			return ErrNotFound
		}
	}
	m.changes = append(m.changes, applied{requestID: r.ID, from: r.Status, change: ch})
	r.Status = ch.To
	if !ch.ConfirmedAt.IsZero() {
		r.ConfirmedAt = ch.ConfirmedAt
	}
	if ch.Extended {
		if r.OriginalDueAt.IsZero() {
			r.OriginalDueAt = r.DueAt
		}
		r.Extensions++
	}
	if !ch.DueAt.IsZero() {
		r.DueAt = ch.DueAt
	}
	if ch.Assign != nil {
		r.AssigneeID = *ch.Assign
		if member, ok := m.staff[*ch.Assign]; ok {
			r.AssigneeEmail, r.AssigneeLocale = member.Email, member.Locale
		} else {
			r.AssigneeEmail, r.AssigneeLocale = "", ""
		}
	}
	if ch.OutcomeReason != "" {
		r.OutcomeReason = ch.OutcomeReason
	}
	switch {
	case ch.Pause:
		r.PausedAt = ch.At
	case ch.Resume:
		r.PausedAt = time.Time{}
	}
	if ch.Rule != nil {
		r.Rule, r.LegalRef, r.RuleBasis = ch.Rule.Rule, ch.Rule.LegalRef, ch.Rule.Terms.Encode()
	}
	if ch.Identity != nil {
		r.Identity = *ch.Identity
	}
	if ch.RevokeStatusLinks {
		for h, id := range m.statusLinks {
			if id == r.ID {
				delete(m.statusLinks, h)
				m.revokedLinks[h] = id
			}
		}
	}
	if ch.AddStatusLink != nil {
		m.statusLinks[string(ch.AddStatusLink)] = r.ID
	}
	for _, f := range ch.Files {
		f.ID = int64(len(m.files[r.ID]) + 1)
		m.files[r.ID] = append(m.files[r.ID], f)
	}
	if ch.DeleteFiles {
		for i := range m.files[r.ID] {
			m.files[r.ID][i].Content = nil
		}
	}
	return nil
}

func (m *memStore) ChangeRequest(_ context.Context, key RequestKey, decide func(Request) (Change, error)) (Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.find(key)
	if err != nil {
		return Request{}, err
	}
	ch, err := decide(*r)
	if err != nil {
		return *r, err
	}
	if err := m.apply(r, ch); err != nil {
		return Request{}, err
	}
	return *r, nil
}

func (m *memStore) AddReply(_ context.Context, hash []byte, linkSince, requestSince time.Time, decide func(Request, ReplyUsage) (Change, error)) (Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.statusLinks[string(hash)]
	if !ok {
		return Request{}, ErrNotFound
	}
	r := m.requests[id]
	var u ReplyUsage
	for _, rp := range m.replies {
		if rp.requestID != id {
			continue
		}
		u.Stored += rp.stored
		if rp.at.After(requestSince) {
			if u.RequestReplies == 0 {
				u.FirstRequestReply = rp.at
			}
			u.RequestReplies++
		}
		if rp.link == string(hash) && rp.at.After(linkSince) {
			if u.LinkReplies == 0 {
				u.FirstLinkReply = rp.at
			}
			u.LinkReplies++
		}
	}
	ch, err := decide(*r, u)
	if err != nil {
		return *r, err
	}
	var stored int64
	for _, f := range ch.Files {
		stored += f.Size
	}
	m.replies = append(m.replies, memReply{requestID: id, link: string(hash), at: ch.At, stored: stored})
	if err := m.apply(r, ch); err != nil {
		return Request{}, err
	}
	return *r, nil
}

func (m *memStore) CreateRequest(_ context.Context, nr NewRequest) (Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.takenReferences > 0 {
		m.takenReferences--
		return Request{}, ErrReferenceTaken
	}
	if nr.IdempotencyKeyHash != nil {
		if first, ok := m.idempotency[string(nr.IdempotencyKeyHash)]; ok {
			if !bytes.Equal(first.body, nr.BodyHash) {
				return *m.requests[first.requestID], ErrIdempotencyMismatch
			}
			return *m.requests[first.requestID], ErrRepeated
		}
	}
	day := strings.ToLower(nr.Request.Email) + " " + nr.AcknowledgementDay
	if nr.AcknowledgementLimit > 0 && m.acks[day] >= nr.AcknowledgementLimit {
		return Request{}, ErrAcknowledgementLimit
	}
	m.acks[day]++
	m.nextID++
	r := nr.Request
	r.ID = m.nextID
	m.requests[r.ID] = &r
	m.statusLinks[string(nr.StatusTokenHash)] = r.ID
	if nr.ConfirmTokenHash != nil {
		m.confirmations[string(nr.ConfirmTokenHash)] = &memConfirmation{requestID: r.ID, expiresAt: nr.ConfirmExpiresAt}
	}
	if nr.IdempotencyKeyHash != nil {
		m.idempotency[string(nr.IdempotencyKeyHash)] = memIdempotency{requestID: r.ID, body: nr.BodyHash}
	}
	for _, f := range nr.Files {
		// Proof of authority counts towards what the requester stored.
		f.ID = int64(len(m.files[r.ID]) + 1)
		m.files[r.ID] = append(m.files[r.ID], f)
		m.replies = append(m.replies, memReply{requestID: r.ID, stored: f.Size})
	}
	m.created = append(m.created, nr)
	return r, nil
}

func (m *memStore) Confirmation(_ context.Context, hash []byte) (Request, Confirmation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.confirmations[string(hash)]
	if !ok {
		return Request{}, Confirmation{}, ErrNotFound
	}
	return *m.requests[c.requestID], Confirmation{RequestID: c.requestID, ExpiresAt: c.expiresAt, UsedAt: c.usedAt}, nil
}

func (m *memStore) Confirm(_ context.Context, hash []byte, decide func(Request, Confirmation) (Change, error)) (Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.confirmations[string(hash)]
	if !ok {
		return Request{}, ErrNotFound
	}
	r := m.requests[c.requestID]
	ch, err := decide(*r, Confirmation{RequestID: c.requestID, ExpiresAt: c.expiresAt, UsedAt: c.usedAt})
	if err != nil {
		return *r, err
	}
	c.usedAt = ch.At
	if err := m.apply(r, ch); err != nil {
		return Request{}, err
	}
	return *r, nil
}

func (m *memStore) ExpireUnconfirmed(_ context.Context, now time.Time, limit int, decide func(Request) (Change, error)) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []*Request
	for _, c := range m.confirmations {
		if r := m.requests[c.requestID]; r.Status == Unverified && c.usedAt.IsZero() && c.expiresAt.Before(now) {
			due = append(due, r)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].ID < due[j].ID })
	n := 0
	for _, r := range due[:min(limit, len(due))] {
		ch, err := decide(*r)
		if err != nil {
			return n, err
		}
		if err := m.apply(r, ch); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (m *memStore) StaffMember(_ context.Context, id int64) (StaffMember, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.staff[id]
	if !ok {
		return StaffMember{}, ErrNotFound
	}
	return s, nil
}

func (m *memStore) CountHit(_ context.Context, bucket string, now time.Time, window time.Duration) (int, error) {
	m.hitsMu.Lock()
	defer m.hitsMu.Unlock()
	key := bucket + " " + now.Truncate(window).String()
	m.hits[key]++
	return m.hits[key], nil
}

func (m *memStore) AddNote(_ context.Context, requestID int64, by StaffActor, body string, at time.Time) (Note, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.requests[requestID]; !ok {
		return Note{}, ErrNotFound
	}
	m.notes = append(m.notes, memNote{requestID: requestID, by: by, body: body, at: at})
	return Note{ID: int64(len(m.notes)), Author: fmt.Sprintf("%+v", by), Body: body, At: at}, nil
}

// textComposer renders an email as the lines "Key=value" of its data,
// sorted, so that a test reads what an email says without the templates
// (internal/mail renders them; internal/app's tests read real emails).
// Times are days, as the templates write them ("by 9 March").
type textComposer struct{}

func (textComposer) Compose(kind string, locale Locale, data map[string]any) (string, string, string, error) {
	var lines []string
	for k, v := range data {
		lines = append(lines, fmt.Sprintf("%s=%v", k, emailValue(v)))
	}
	slices.Sort(lines)
	text := strings.Join(lines, "\n")
	return kind + " " + string(locale) + " " + fmt.Sprint(data["Reference"]), text, "<pre>" + text + "</pre>", nil
}

// emailValue is a value as textComposer writes it: a time as its day
// where it is (the tests' times are the operator's).
func emailValue(v any) any {
	if t, ok := v.(time.Time); ok {
		return t.Format(time.DateOnly)
	}
	return v
}

// says reports whether the email's text holds the line key=value.
func says(m OutboxEmail, key string, value any) bool {
	return slices.Contains(strings.Split(m.Text, "\n"), fmt.Sprintf("%s=%v", key, emailValue(value)))
}

// testClock is a clock a test moves.
type testClock struct{ now *time.Time }

func (c testClock) Now() time.Time { return *c.now }

// almaty is the operator's zone of the tests.
func almaty(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Almaty")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// testPolicy is a real deadline policy of preset.
func testPolicy(t *testing.T, preset string, opts ...deadline.Option) *deadline.Policy {
	t.Helper()
	p, err := deadline.NewPolicy(preset, almaty(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// datedRequest is a confirmed request of type received at, dated by the
// policy, in status.
func datedRequest(t *testing.T, p *deadline.Policy, typ Type, status Status, at time.Time) Request {
	t.Helper()
	due, err := p.Due(deadline.Input{Type: string(typ), ReceivedAt: at, ConfirmedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	r := Request{
		Type: typ, Status: status, Locale: Kazakh, ReceivedAt: at, DueAt: due.DueAt, Rule: due.Rule, LegalRef: due.LegalRef,
		RuleBasis: due.Terms.Encode(), FullName: "Айгерим Нурланқызы", Email: "aigerim@example.kz",
	}
	if status != Unverified {
		r.ConfirmedAt = at
	}
	if typ == Access {
		r.AccessScope = "information"
	}
	return r
}
