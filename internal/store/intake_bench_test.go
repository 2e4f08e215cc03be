package store

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// BenchmarkIntakeDashboardRollup times what the dashboard's rollups
// (migration 00036) add to the intake: blocks of intakes with the insert
// trigger on and off alternate, from 8 connections at once (so that
// intakes meet on the rollup's rows as they would under load), and
// on/off is the ratio of their times.
//
//	go run ./tools/withpg -set fsync=on -- go test ./internal/store/ -run '^$' -bench IntakeDashboardRollup -benchtime 40x
func BenchmarkIntakeDashboardRollup(b *testing.B) {
	ctx := context.Background()
	pool := testkit.DB(b)
	s := New(pool, &intakeOutbox{}, testkit.Keys())
	const workers, perBlock = 8, 25
	var took [2]time.Duration
	n := atomic.Int64{}
	block := func() {
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range perBlock {
					i := n.Add(1)
					nr := newIntakeRequest(fmt.Sprintf("RD-RLUP-%04d-%04d", i/10000, i%10000), fmt.Sprintf("p%d@example.kz", i))
					nr.StatusTokenHash, nr.ConfirmTokenHash = fmt.Appendf(nil, "s%d", i), fmt.Appendf(nil, "c%d", i)
					if _, err := s.CreateRequest(ctx, nr); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	trigger := func(on bool) {
		verb := "DISABLE"
		if on {
			verb = "ENABLE"
		}
		if _, err := pool.Exec(ctx, `ALTER TABLE requests `+verb+` TRIGGER requests_dashboard_insert`); err != nil {
			b.Fatal(err)
		}
	}
	block() // warm up
	b.ResetTimer()
	for i := range b.N {
		for k := range 2 {
			on := (i+k)%2 == 0
			trigger(on)
			start := time.Now()
			block()
			if on {
				took[0] += time.Since(start)
			} else {
				took[1] += time.Since(start)
			}
		}
	}
	b.StopTimer()
	trigger(true)
	perIntake := float64(b.N * workers * perBlock)
	b.ReportMetric(float64(took[0].Nanoseconds())/perIntake, "on-ns/intake")
	b.ReportMetric(float64(took[1].Nanoseconds())/perIntake, "off-ns/intake")
	b.ReportMetric(float64(took[0])/float64(took[1]), "on/off")
}
