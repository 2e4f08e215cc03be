package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/auth"
	"rightsdesk/internal/jobs"
	"rightsdesk/internal/keyring"
	"rightsdesk/internal/opscope"
	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
	"rightsdesk/internal/store"
	"rightsdesk/internal/testkit"
)

// operatorsStore is a fresh database and a store of no operator on it,
// with its job outbox, and the operators of slugs recorded (none: the
// database holds only the default operator).
func operatorsStore(t *testing.T, slugs ...string) (*pgxpool.Pool, *store.Store, map[string]int64) {
	t.Helper()
	pool := testkit.DB(t)
	outbox, err := jobs.NewOutbox(pool)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(pool, outbox, testkit.Keys())
	var ids map[string]int64
	if len(slugs) > 0 {
		if ids, err = st.RecordOperators(context.Background(), slugs); err != nil {
			t.Fatal(err)
		}
	}
	return pool, st, ids
}

func submission(reference, email string) request.NewRequest {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	return request.NewRequest{
		Request: request.Request{
			Reference: reference, Type: request.Access, Status: request.New, Locale: "ru",
			ReceivedAt: at, DueAt: at.AddDate(0, 0, 30), Rule: "default.access", RuleBasis: "received",
			FullName: "Айгерим Нурланқызы", Email: email,
		},
		StatusTokenHash: []byte(reference + "-status"),
		Emails: []request.OutboxEmail{{Kind: request.EmailAcknowledgement, MessageID: reference + "@test", To: email, Locale: "ru",
			Subject: reference, Text: "text", HTML: "<p>html</p>"}},
	}
}

// TestEachOperatorSeesOnlyItsOwnRequests: with two operators, a request
// filed with each from the same address is found, by reference and by a
// search for the address, only through the store of the operator it was
// filed with.
func TestEachOperatorSeesOnlyItsOwnRequests(t *testing.T) {
	ctx := context.Background()
	_, st, ids := operatorsStore(t, "webstapero", "flextok")
	if ids["webstapero"] == ids["flextok"] || ids["flextok"] == 0 {
		t.Fatalf("operator ids %v", ids)
	}
	web, flex := st.For(ids["webstapero"]), st.For(ids["flextok"])
	if _, err := web.CreateRequest(ctx, submission("RD-WEBS-TAPE-RO01", "aigerim@example.kz")); err != nil {
		t.Fatal(err)
	}
	if _, err := flex.CreateRequest(ctx, submission("RD-FLEX-TOKX-UM01", "aigerim@example.kz")); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		s          *store.Store
		own, other string
	}{
		"webstapero": {web, "RD-WEBS-TAPE-RO01", "RD-FLEX-TOKX-UM01"},
		"flextok":    {flex, "RD-FLEX-TOKX-UM01", "RD-WEBS-TAPE-RO01"},
	} {
		found, err := c.s.Queue(ctx, store.QueueFilter{Tab: store.TabAll, Search: "aigerim@example.kz"}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(found.Rows) != 1 || found.Rows[0].Reference != c.own {
			t.Errorf("%s: a search for the address found %v, want only %s", name, found.Rows, c.own)
		}
		if _, err := c.s.RequestByReference(ctx, c.own); err != nil {
			t.Errorf("%s: its own request: %v", name, err)
		}
		if r, err := c.s.RequestByReference(ctx, c.other); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: the other operator's request: %+v, %v; want not found", name, r, err)
		}
		counts, err := c.s.QueueCounts(ctx, store.QueueFilter{Now: time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)})
		if err != nil || counts[store.TabOpen] != 1 {
			t.Errorf("%s: %d open in the counts (%v), want its one", name, counts[store.TabOpen], err)
		}
	}
}

// TestEachOperatorsDashboardCountsOnlyItsOwnRequests: the dashboard's
// rollups are kept per operator, each in its own time zone: a request filed
// with one operator is in that operator's figures and in no other's, and
// recounting one operator's rollups in another zone leaves the other's as
// they were.
func TestEachOperatorsDashboardCountsOnlyItsOwnRequests(t *testing.T) {
	ctx := context.Background()
	_, st, ids := operatorsStore(t, "webstapero", "flextok")
	web, flex := st.For(ids["webstapero"]), st.For(ids["flextok"])
	almaty, err := time.LoadLocation("Asia/Almaty")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := web.DashboardZone(ctx, "Asia/Almaty"); err != nil {
		t.Fatal(err)
	}
	if _, err := flex.DashboardZone(ctx, "UTC"); err != nil {
		t.Fatal(err)
	}
	for i, ref := range []string{"RD-WEBS-TAPE-RO01", "RD-WEBS-TAPE-RO02"} {
		if _, err := web.CreateRequest(ctx, submission(ref, fmt.Sprintf("w%d@example.kz", i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := flex.CreateRequest(ctx, submission("RD-FLEX-TOKX-UM01", "f@example.kz")); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)
	received := func(s *store.Store, loc *time.Location) int {
		t.Helper()
		d, err := s.Dashboard(ctx, now, loc, 2026)
		if err != nil {
			t.Fatal(err)
		}
		return d.YearTotal.Received
	}
	if got := received(web, almaty); got != 2 {
		t.Errorf("webstapero's dashboard counts %d received, want its 2", got)
	}
	if got := received(flex, time.UTC); got != 1 {
		t.Errorf("flextok's dashboard counts %d received, want its 1", got)
	}
	// flextok's figures counted again in Almaty's zone: webstapero's stay.
	if counted, err := flex.DashboardZone(ctx, "Asia/Almaty"); err != nil || !counted {
		t.Fatalf("recount in another zone: %v, %v", counted, err)
	}
	if got := received(flex, almaty); got != 1 {
		t.Errorf("flextok's dashboard after its recount counts %d, want 1", got)
	}
	if got := received(web, almaty); got != 2 {
		t.Errorf("webstapero's dashboard after flextok's recount counts %d, want 2", got)
	}
}

// TestAQueryWithoutTheOperatorScopeReturnsNothing is the second wall: once
// a deployment has two operators, a statement on a connection scoped to no
// operator reads no row and may write none, and one scoped to an operator
// reads only that operator's rows even with no WHERE naming it. River's
// tables are the deployment's and answer either way.
func TestAQueryWithoutTheOperatorScopeReturnsNothing(t *testing.T) {
	ctx := context.Background()
	pool, st, _ := operatorsStore(t)
	if _, err := st.CreateRequest(ctx, submission("RD-DEFA-ULTO-NE01", "one@example.kz")); err != nil {
		t.Fatal(err)
	}
	ids, err := st.RecordOperators(ctx, []string{"flextok"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.For(ids["flextok"]).CreateRequest(ctx, submission("RD-FLEX-TOKX-UM01", "two@example.kz")); err != nil {
		t.Fatal(err)
	}

	for _, table := range []string{"requests", "events", "emails", "status_links", "dashboard_received", "dashboard_zone"} {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil || n != 0 {
			t.Errorf("unscoped, %s shows %d rows (%v), want none", table, n, err)
		}
	}
	if _, err := st.RequestByReference(ctx, "RD-DEFA-ULTO-NE01"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unscoped store found a request: %v", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE requests SET deadline_legal_ref = 'changed'`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateRequest(ctx, submission("RD-NOSC-OPEX-XX01", "three@example.kz")); err == nil {
		t.Error("an unscoped intake stored a request")
	}

	var refs []string
	rows, err := pool.Query(opscope.With(ctx, ids["flextok"]), `SELECT reference FROM requests`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var ref string
		if err := rows.Scan(&ref); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	if rows.Err() != nil || len(refs) != 1 || refs[0] != "RD-FLEX-TOKX-UM01" {
		t.Errorf("scoped to flextok with no WHERE, the requests are %v (%v)", refs, rows.Err())
	}
	var changed int
	if err := pool.QueryRow(opscope.With(ctx, 1), `SELECT count(*) FROM requests WHERE deadline_legal_ref = 'changed'`).Scan(&changed); err != nil || changed != 0 {
		t.Errorf("the unscoped UPDATE changed %d requests (%v)", changed, err)
	}
	// Someone else's row cannot be written into an operator's scope either.
	if _, err := pool.Exec(opscope.With(ctx, 1), `UPDATE requests SET operator_id = $1`, ids["flextok"]); err == nil {
		t.Error("a request was moved to another operator from inside the default operator's scope")
	}
	var jobsQueued int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job`).Scan(&jobsQueued); err != nil || jobsQueued != 2 {
		t.Errorf("River's jobs unscoped: %d (%v), want both intakes' deliveries", jobsQueued, err)
	}
}

// TestNoRowIsWrittenForAnOperatorThatDoesNotExist: the operator_id columns
// carry no foreign key (migration 00050: checking one locked the operator's
// row in every intake), so what the key guarded is a test of its own: a
// connection scoped to an operator that was never recorded writes nothing,
// in the intake or by hand, and an operator once recorded cannot be deleted,
// renumbered or truncated away from the rows that name it.
func TestNoRowIsWrittenForAnOperatorThatDoesNotExist(t *testing.T) {
	ctx := context.Background()
	pool, st, ids := operatorsStore(t, "flextok")
	if _, err := st.For(ids["flextok"]).CreateRequest(ctx, submission("RD-FLEX-TOKX-UM01", "one@example.kz")); err != nil {
		t.Fatal(err)
	}
	missing := ids["flextok"] + 1000
	if _, err := st.For(missing).CreateRequest(ctx, submission("RD-NONE-XIST-ENT1", "two@example.kz")); err == nil {
		t.Error("an intake scoped to an operator that does not exist stored a request")
	}
	if _, err := pool.Exec(opscope.With(ctx, missing), `INSERT INTO acknowledgement_counts (email_index, day, sent) VALUES ('x', '2026-03-02', 1)`); err == nil {
		t.Error("a row was written for an operator that does not exist")
	}
	if _, err := pool.Exec(opscope.With(ctx, ids["flextok"]), `UPDATE requests SET operator_id = $1`, missing); err == nil {
		t.Error("a request was moved to an operator that does not exist")
	}
	var n int
	if err := pool.QueryRow(opscope.With(ctx, missing), `SELECT count(*) FROM requests`).Scan(&n); err != nil || n != 0 {
		t.Errorf("scoped to an operator that does not exist: %d requests (%v)", n, err)
	}
	for _, stmt := range []string{
		`DELETE FROM operators WHERE slug = 'flextok'`,
		`UPDATE operators SET id = id + 5000 WHERE slug = 'flextok'`,
		`TRUNCATE operators CASCADE`,
	} {
		if _, err := pool.Exec(ctx, stmt); err == nil {
			t.Errorf("%s: done, want it refused", stmt)
		}
	}
	if _, err := st.For(ids["flextok"]).RequestByReference(ctx, "RD-FLEX-TOKX-UM01"); err != nil {
		t.Errorf("the operator's request after the refused deletions: %v", err)
	}
}

// ENCRYPTION_KEY is the deployment's, each operator's keys derived from it:
// a rotation from the command line (a store of no operator) rewrites every
// operator's values with that operator's new key, not the none that
// row-level security would show it once there are two, and the staff
// accounts' secrets, which are the deployment's, once with its own.
func TestKeyRotationReachesEveryOperatorsValues(t *testing.T) {
	ctx := context.Background()
	pool, st, ids := operatorsStore(t, "webstapero", "flextok")
	refs := map[int64]string{ids["webstapero"]: "RD-WEBS-TAPE-RO01", ids["flextok"]: "RD-FLEX-TOKX-UM01"}
	for id, ref := range refs {
		if _, err := st.For(id).CreateRequest(ctx, submission(ref, "aigerim@example.kz")); err != nil {
			t.Fatal(err)
		}
	}
	dana, err := st.For(ids["webstapero"]).CreateStaff(ctx, auth.NewStaff{Staff: auth.Staff{Email: "dana@webstapero.kz", Name: "Дана", Role: auth.Agent, Locale: "ru"},
		Audit: auth.Audit{At: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.For(ids["webstapero"]).SetTOTPSecret(ctx, dana.ID, "JBSWY3DPEHPK3PXP"); err != nil {
		t.Fatal(err)
	}
	newKey := keyring.Generate()
	both, err := keyring.Parse(newKey + "," + testkit.EncryptionKey)
	if err != nil {
		t.Fatal(err)
	}
	rotating := store.New(pool, nil, both) // re-sealing enqueues nothing
	res, err := rotating.Rotate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res[sealed.RequestPersonal] != 2 || res[sealed.TOTPSecret] != 1 {
		t.Errorf("rotated %d requests' personal data and %d staff secrets, want both operators' 2 and Dana's 1", res[sealed.RequestPersonal], res[sealed.TOTPSecret])
	}
	if n, err := rotating.Unrotated(ctx); err != nil || n != 0 {
		t.Errorf("%d values left under the old key (%v)", n, err)
	}
	newOnly, err := keyring.Parse(newKey)
	if err != nil {
		t.Fatal(err)
	}
	for id, ref := range refs {
		s := store.New(pool, nil, newOnly).For(id)
		r, err := s.RequestByReference(ctx, ref)
		if err != nil || r.Email != "aigerim@example.kz" {
			t.Errorf("operator %d's request with the new key alone: %q, %v", id, r.Email, err)
		}
		found, err := s.Queue(ctx, store.QueueFilter{Tab: store.TabAll, Search: "aigerim@example.kz"}, store.Page{})
		if err != nil || len(found.Rows) != 1 || found.Rows[0].Reference != ref {
			t.Errorf("operator %d's search with the new key alone: %v, %v", id, found.Rows, err)
		}
		var personal []byte
		if err := pool.QueryRow(opscope.With(ctx, id), `SELECT personal FROM requests WHERE reference = $1`, ref).Scan(&personal); err != nil {
			t.Fatal(err)
		}
		if _, err := sealed.OpenPersonal(newOnly, personal); id != keyring.DefaultOperator && !errors.Is(err, keyring.ErrUnknownKey) {
			t.Errorf("operator %d's request was sealed again with the deployment's key rather than its own: %v", id, err)
		}
	}
	if got, err := store.New(pool, nil, newOnly).For(ids["webstapero"]).StaffByID(ctx, dana.ID); err != nil || got.TOTPSecret != "JBSWY3DPEHPK3PXP" {
		t.Errorf("Dana's secret with the new key alone: %q, %v", got.TOTPSecret, err)
	}
}

// An account works only for the operators it is a member of: through
// another operator's store it is not found (so neither its session nor its
// sign-in holds there), and in each it has the role of its membership.
func TestAStaffMemberOfOneOperatorIsNotFoundByAnother(t *testing.T) {
	ctx := context.Background()
	_, st, ids := operatorsStore(t, "webstapero", "flextok")
	web, flex := st.For(ids["webstapero"]), st.For(ids["flextok"])
	dana, err := web.CreateStaff(ctx, auth.NewStaff{Staff: auth.Staff{Email: "dana@webstapero.kz", Name: "Дана", Role: auth.Agent, Locale: "ru"},
		Audit: auth.Audit{At: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := web.StaffByEmail(ctx, "Dana@webstapero.kz"); err != nil || got.ID != dana.ID || got.Role != auth.Agent {
		t.Errorf("webstapero's own agent: %+v, %v", got, err)
	}
	if _, err := flex.StaffByID(ctx, dana.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("flextok found webstapero's agent by id: %v", err)
	}
	if _, err := flex.StaffByEmail(ctx, "dana@webstapero.kz"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("flextok found webstapero's agent by email: %v", err)
	}
	if list, err := flex.ListStaff(ctx); err != nil || len(list) != 0 {
		t.Errorf("flextok's staff list: %d accounts (%v), want none", len(list), err)
	}
}

// TestEachOperatorSealsAndIndexesWithKeysOfItsOwn: the same address filed
// with two operators has different blind index terms and sealed values that
// the other operator's keys do not open, so that even request_search, which
// holds every operator's terms behind no policy, matches one operator's
// search for the address to that operator's request alone.
func TestEachOperatorSealsAndIndexesWithKeysOfItsOwn(t *testing.T) {
	ctx := context.Background()
	pool, st, ids := operatorsStore(t, "webstapero", "flextok")
	web, flex := ids["webstapero"], ids["flextok"]
	type stored struct {
		id                 int64
		personal, emailIdx []byte
		terms              [][]byte
	}
	rows := map[int64]stored{}
	for op, ref := range map[int64]string{web: "RD-WEBS-TAPE-RO01", flex: "RD-FLEX-TOKX-UM01"} {
		r, err := st.For(op).CreateRequest(ctx, submission(ref, "aigerim@example.kz"))
		if err != nil {
			t.Fatal(err)
		}
		var x stored
		if err := pool.QueryRow(opscope.With(ctx, op), `SELECT id, personal, email_index, search_index FROM requests WHERE reference = $1`, ref).
			Scan(&x.id, &x.personal, &x.emailIdx, &x.terms); err != nil {
			t.Fatal(err)
		}
		if x.id != r.ID {
			t.Fatalf("operator %d: request %d, stored row %d", op, r.ID, x.id)
		}
		rows[op] = x
	}
	if bytes.Equal(rows[web].emailIdx, rows[flex].emailIdx) {
		t.Error("the same address has the same email index with both operators")
	}
	for _, a := range rows[web].terms {
		for _, b := range rows[flex].terms {
			if bytes.Equal(a, b) {
				t.Errorf("a search term of webstapero's request is one of flextok's: %x", a)
			}
		}
	}
	for op, other := range map[int64]int64{web: flex, flex: web} {
		if _, err := sealed.OpenPersonal(testkit.Keys().ForOperator(other), rows[op].personal); !errors.Is(err, keyring.ErrUnknownKey) {
			t.Errorf("operator %d's keys opened operator %d's request: %v", other, op, err)
		}
		if _, err := sealed.OpenPersonal(testkit.Keys(), rows[op].personal); !errors.Is(err, keyring.ErrUnknownKey) {
			t.Errorf("the deployment's keys opened operator %d's request: %v", op, err)
		}
		p, err := sealed.OpenPersonal(testkit.Keys().ForOperator(op), rows[op].personal)
		if err != nil || p.Email != "aigerim@example.kz" {
			t.Errorf("operator %d's keys open its own request to %q, %v", op, p.Email, err)
		}
		// A forgotten WHERE on the table with no policy: the terms one
		// operator searches the address by match its own request only.
		q := testkit.Keys().ForOperator(op).QueryTerms("aigerim@example.kz")
		found, err := pool.Query(ctx, `SELECT request_id FROM request_search WHERE search_index && $1`, q[0])
		if err != nil {
			t.Fatal(err)
		}
		matched, err := pgx.CollectRows(found, pgx.RowTo[int64])
		if err != nil || len(matched) != 1 || matched[0] != rows[op].id {
			t.Errorf("operator %d's terms for the address match requests %v (%v), want only %d", op, matched, err, rows[op].id)
		}
	}
}

// A deployment of one operator that gains an operators file keeps its
// requests under "default": Unserved names it until the file does, and
// never names an operator with no requests.
func TestUnservedNamesAnOperatorWithRequestsTheFileLeavesOut(t *testing.T) {
	ctx := context.Background()
	_, st, _ := operatorsStore(t)
	if _, err := st.CreateRequest(ctx, submission("RD-DEFA-ULTO-NE01", "one@example.kz")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordOperators(ctx, []string{"webstapero", "flextok", "empty"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file []string
		want string
	}{
		{[]string{"webstapero", "flextok"}, "default"},
		{[]string{"default", "webstapero"}, ""},
	} {
		got, err := st.Unserved(ctx, c.file)
		if err != nil || strings.Join(got, ",") != c.want {
			t.Errorf("file %v: unserved %v (%v), want %q", c.file, got, err, c.want)
		}
	}
}
