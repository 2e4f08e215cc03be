package store

import (
	"context"
	"strconv"
	"testing"
	"time"

	"rightsdesk/internal/auth"
	"rightsdesk/internal/opscope"
	"rightsdesk/internal/testkit"
)

// The switcher reads an account's own memberships of every operator in one
// statement (the own_memberships policy): only that account's, only for
// reading. A statement that names no account sees its operator's
// memberships alone, and naming an account never lets a statement change,
// or add, another operator's membership.
func TestOwnMembershipsAreReadableAcrossOperatorsButNotWritable(t *testing.T) {
	ctx := context.Background()
	pool := testkit.DB(t)
	all := New(pool, nil, testkit.Keys())
	ids, err := all.RecordOperators(ctx, []string{"webstapero", "flextok"})
	if err != nil {
		t.Fatal(err)
	}
	web, flex := all.For(ids["webstapero"]), all.For(ids["flextok"])
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	dana, err := web.CreateStaff(ctx, auth.NewStaff{Staff: auth.Staff{Email: "dana@webstapero.kz", Name: "Дана", Role: auth.Admin, Locale: "ru"}, Audit: auth.Audit{At: at}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := flex.CreateStaff(ctx, auth.NewStaff{Staff: auth.Staff{Email: "aru@flextokxumare.kz", Name: "Ару", Role: auth.Admin, Locale: "kk"}, Audit: auth.Audit{At: at}})
	if err != nil {
		t.Fatal(err)
	}
	bek, err := web.CreateStaff(ctx, auth.NewStaff{Staff: auth.Staff{Email: "bek@webstapero.kz", Name: "Бек", Role: auth.Agent, Locale: "kk"}, Audit: auth.Audit{At: at}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := flex.Join(ctx, dana.Email, auth.Auditor, at); err != nil {
		t.Fatal(err)
	}
	ms, err := web.Memberships(ctx, dana.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0] != (auth.Membership{OperatorID: ids["webstapero"], Role: auth.Admin}) || ms[1] != (auth.Membership{OperatorID: ids["flextok"], Role: auth.Auditor}) {
		t.Errorf("dana's memberships read on webstapero: %v, want admin of webstapero and auditor of flextok", ms)
	}
	// Another account's: webstapero's store sees none of flextok's member.
	if ms, err := web.Memberships(ctx, other.ID); err != nil || len(ms) != 1 || ms[0].OperatorID != ids["flextok"] {
		t.Errorf("aru's memberships read on webstapero: %v (%v), want flextok's, read under aru's name", ms, err)
	}
	n := 0
	if err := pool.QueryRow(opscope.With(ctx, ids["webstapero"]), `SELECT count(*) FROM staff_operators WHERE operator_id <> $1`, ids["webstapero"]).Scan(&n); err != nil || n != 0 {
		t.Errorf("a statement on webstapero naming no account sees %d memberships of other operators (%v), want none", n, err)
	}
	tx, err := pool.Begin(opscope.With(ctx, ids["webstapero"]))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT set_config('rightsdesk.staff', $1, true)`, strconv.FormatInt(dana.ID, 10)); err != nil {
		t.Fatal(err)
	}
	tag, err := tx.Exec(ctx, `UPDATE staff_operators SET role = 'admin' WHERE staff_id = $1 AND operator_id = $2`, dana.ID, ids["flextok"])
	if err != nil || tag.RowsAffected() != 0 {
		t.Errorf("naming the account changed its flextok membership from webstapero: %v rows (%v)", tag.RowsAffected(), err)
	}
	if tag, err := tx.Exec(ctx, `DELETE FROM staff_operators WHERE staff_id = $1 AND operator_id = $2`, dana.ID, ids["flextok"]); err != nil || tag.RowsAffected() != 0 {
		t.Errorf("naming the account deleted its flextok membership from webstapero: %v rows (%v)", tag.RowsAffected(), err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO staff_operators (staff_id, operator_id, role) VALUES ($1, $2, 'admin')`, bek.ID, ids["flextok"]); err == nil {
		t.Error("a statement scoped to webstapero wrote a flextok membership")
	}
}
