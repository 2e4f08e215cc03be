package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
)

// changeDesk is the set-up of the tests that follow requests through every
// kind of change and compare what the store maintains (tab counts, the
// queue tally, the dashboard's rollups) with what the rows say: a database,
// a Store that reads and another that writes, as a second instance would, a
// staff member, and the moment the changes are made at (the intake's fixed
// date, newIntakeRequest, an hour on: its requests are due in 30 days).
type changeDesk struct {
	t              *testing.T
	ctx            context.Context
	pool           *pgxpool.Pool
	reader, writer *Store
	agent          int64
	now            time.Time
	// check runs after each change, told what the change was.
	check func(after string)
}

func newChangeDesk(t *testing.T) *changeDesk {
	t.Helper()
	pool := testkit.DB(t)
	d := &changeDesk{t: t, ctx: context.Background(), pool: pool,
		reader: New(pool, &intakeOutbox{}, testkit.Keys()),
		writer: New(pool, &intakeOutbox{}, testkit.Keys()),
		now:    time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).Add(time.Hour),
		check:  func(string) {}}
	agent, err := testkit.AddStaff(d.ctx, pool, "Ерлан", "erlan@example.kz")
	if err != nil {
		t.Fatal(err)
	}
	d.agent = agent
	return d
}

// intake submits a request of each type through the writer, as the portal
// does (references RD-<tag><n>-AAAA-BBBB), and returns their ids in order.
func (d *changeDesk) intake(tag string, types ...request.Type) []int64 {
	d.t.Helper()
	ids := make([]int64, 0, len(types))
	for i, typ := range types {
		nr := newIntakeRequest(fmt.Sprintf("RD-%s%d-AAAA-BBBB", tag, i), fmt.Sprintf("person%d@example.kz", i))
		nr.Request.Type = typ
		nr.StatusTokenHash, nr.ConfirmTokenHash = fmt.Appendf(nil, "s%d", i), fmt.Appendf(nil, "c%d", i)
		r, err := d.writer.CreateRequest(d.ctx, nr)
		if err != nil {
			d.t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	return ids
}

// change has the writer apply edit to request id, as the agent at d.now,
// then runs d.check.
func (d *changeDesk) change(what string, id int64, edit func(r request.Request, ch *request.Change)) {
	d.t.Helper()
	_, err := d.writer.ChangeRequest(d.ctx, request.RequestKey{ID: id}, func(r request.Request) (request.Change, error) {
		ch := request.Change{To: r.Status, Event: "test_" + what, Actor: request.ActorStaff, ActorID: d.agent, At: d.now}
		edit(r, &ch)
		return ch, nil
	})
	if err != nil {
		d.t.Fatalf("%s: %v", what, err)
	}
	d.check(what)
}
