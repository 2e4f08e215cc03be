package store

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/opscope"
	"rightsdesk/internal/testkit"
)

// BenchmarkIntake times store.CreateRequest, the intake's one statement
// (CreateRequestSQL) with everything a public submission brings: the request,
// its event, status link, confirmation, two emails and their delivery job, in
// one round trip. The figure to compare is between two versions of the store
// on one machine in one sitting; the whole portal's intake is measured by
// scripts/bench (docs/benchmarks.md).
//
//	go run ./tools/withpg -- go test ./internal/store/ -run '^$' -bench Intake -benchtime 2000x
func BenchmarkIntake(b *testing.B) {
	ctx := context.Background()
	s := New(testkit.DB(b), &intakeOutbox{}, testkit.Keys())
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n++
		nr := newIntakeRequest(fmt.Sprintf("RD-BNCH-%04d-%04d", n/10000, n%10000), fmt.Sprintf("p%d@example.kz", n))
		if _, err := s.CreateRequest(ctx, nr); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIntakeScoped is BenchmarkIntake through one operator's store
// (issue 15), the connection scoped for row-level security in the two ways
// a pool can: PrepareConn setting rightsdesk.operator only when the
// connection was last scoped otherwise (opscope.Prepare, what rightsdesk
// does), or setting it on every use, which is the least that a set_config
// in each transaction costs (one more round trip per use).
//
//	go run ./tools/withpg -- go test ./internal/store/ -run '^$' -bench 'Intake' -benchtime 2000x
func BenchmarkIntakeScoped(b *testing.B) {
	everyUse := func(ctx context.Context, conn *pgx.Conn) (bool, error) {
		id, _ := opscope.From(ctx)
		_, err := conn.Exec(ctx, "SELECT set_config($1, $2, false)", opscope.Setting, strconv.FormatInt(id, 10))
		return err == nil, err
	}
	for _, c := range []struct {
		name    string
		prepare func(context.Context, *pgx.Conn) (bool, error)
	}{{"remembered", opscope.Prepare}, {"every-use", everyUse}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			cfg, err := pgxpool.ParseConfig(testkit.DBURL(b))
			if err != nil {
				b.Fatal(err)
			}
			cfg.PrepareConn = c.prepare
			pool, err := pgxpool.NewWithConfig(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer pool.Close()
			s := New(pool, &intakeOutbox{}, testkit.Keys()).For(1)
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				n++
				nr := newIntakeRequest(fmt.Sprintf("RD-BNCH-%04d-%04d", n/10000, n%10000), fmt.Sprintf("p%d@example.kz", n))
				if _, err := s.CreateRequest(ctx, nr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
