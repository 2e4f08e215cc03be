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
	alternateIntakes(b, New(pool, &intakeOutbox{}, testkit.Keys()), "RLUP", func(on bool) {
		verb := "DISABLE"
		if on {
			verb = "ENABLE"
		}
		if _, err := pool.Exec(ctx, `ALTER TABLE requests `+verb+` TRIGGER requests_dashboard_insert`); err != nil {
			b.Fatal(err)
		}
	})
}

// alternateIntakes times blocks of intakes through s from 8 connections at
// once (so that intakes meet on shared rows and share WAL flushes as they
// would under load), with set(true) and set(false) alternating before each
// block, and reports on/off: the ratio of their times. It leaves set(true).
func alternateIntakes(b *testing.B, s *Store, tag string, set func(on bool)) {
	b.Helper()
	alternateIntakesThrough(b, tag, func(bool, int64) *Store { return s }, set)
}

// alternateIntakesThrough is alternateIntakes with the store of the i-th
// intake of an on or off block given by through.
func alternateIntakesThrough(b *testing.B, tag string, through func(on bool, i int64) *Store, set func(on bool)) {
	b.Helper()
	ctx := context.Background()
	const workers, perBlock = 8, 25
	var took [2]time.Duration
	n := atomic.Int64{}
	block := func(on bool) {
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range perBlock {
					i := n.Add(1)
					nr := newIntakeRequest(fmt.Sprintf("RD-%s-%04d-%04d", tag, i/10000, i%10000), fmt.Sprintf("p%d@example.kz", i))
					nr.StatusTokenHash, nr.ConfirmTokenHash = fmt.Appendf(nil, "s%d", i), fmt.Appendf(nil, "c%d", i)
					if _, err := through(on, i).CreateRequest(ctx, nr); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	block(true) // warm up
	block(false)
	b.ResetTimer()
	for i := range b.N {
		for k := range 2 {
			on := (i+k)%2 == 0
			set(on)
			start := time.Now()
			block(on)
			if on {
				took[0] += time.Since(start)
			} else {
				took[1] += time.Since(start)
			}
		}
	}
	b.StopTimer()
	set(true)
	perIntake := float64(b.N * workers * perBlock)
	b.ReportMetric(float64(took[0].Nanoseconds())/perIntake, "on-ns/intake")
	b.ReportMetric(float64(took[1].Nanoseconds())/perIntake, "off-ns/intake")
	b.ReportMetric(float64(took[0])/float64(took[1]), "on/off")
}

// intakeTables are the operator tables an intake writes (with the dashboard's
// rollups its trigger writes).
var intakeTables = []string{"requests", "events", "status_links", "confirmations", "emails", "idempotency_keys",
	"acknowledgement_counts", "files", "dashboard_received", "dashboard_closed", "dashboard_zone"}

// BenchmarkIntakeSecondWall times what the second wall (issue 15) costs the
// single-operator intake, through the operator's store as the portal runs
// it: blocks of intakes with and without each part alternate (on/off is the
// ratio of their times). "policies" turns row-level security off on the
// tables the intake writes; "operator-fks" drops their operator_id foreign
// keys (each of which locks the operator's one row, FOR KEY SHARE, in every
// intake at once).
//
//	go run ./tools/withpg -set fsync=on -- go test ./internal/store/ -run '^$' -bench IntakeSecondWall -benchtime 20x -count 3
func BenchmarkIntakeSecondWall(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		on, off string
		initial bool // whether the database has it as migrated
	}{
		{"policies", "ALTER TABLE %[1]s ENABLE ROW LEVEL SECURITY; ALTER TABLE %[1]s FORCE ROW LEVEL SECURITY",
			"ALTER TABLE %[1]s NO FORCE ROW LEVEL SECURITY; ALTER TABLE %[1]s DISABLE ROW LEVEL SECURITY", true},
		{"operator-fks", "ALTER TABLE %[1]s ADD CONSTRAINT %[1]s_operator_id_fkey FOREIGN KEY (operator_id) REFERENCES operators (id) NOT VALID",
			"ALTER TABLE %[1]s DROP CONSTRAINT IF EXISTS %[1]s_operator_id_fkey", false},
	} {
		b.Run(c.name, func(b *testing.B) {
			pool := testkit.DB(b)
			state := c.initial
			alternateIntakes(b, New(pool, &intakeOutbox{}, testkit.Keys()).For(1), "WALL", func(on bool) {
				if on == state {
					return
				}
				state = on
				ddl := c.off
				if on {
					ddl = c.on
				}
				for _, t := range intakeTables {
					if _, err := pool.Exec(ctx, fmt.Sprintf(ddl, t)); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkIntakeHundredOperators is issue 15's intake figure: intakes into a
// database of 100 operators holding RIGHTSDESK_BENCH_ROWS requests (a
// million unless set) among them, each intake through the store of one of
// them in turn, alternate with intakes into a database of one operator
// holding as many requests; on/off is the hundred's time over the one's.
//
//	go run ./tools/withpg -set fsync=on -- go test ./internal/store/ -run '^$' -bench IntakeHundredOperators -benchtime 10x -timeout 60m
func BenchmarkIntakeHundredOperators(b *testing.B) {
	ctx := context.Background()
	n := testkit.BenchRows(b)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	one, hundred := testkit.DB(b), testkit.DB(b)
	if _, err := testkit.SeedRequests(ctx, one, n, testkit.SeedOptions{Now: now, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	single := New(one, &intakeOutbox{}, testkit.Keys()).For(1)
	slugs := make([]string, 99)
	for i := range slugs {
		slugs[i] = fmt.Sprintf("operator-%03d", i+2)
	}
	many := New(hundred, &intakeOutbox{}, testkit.Keys())
	ids, err := many.RecordOperators(ctx, slugs)
	if err != nil {
		b.Fatal(err)
	}
	stores := []*Store{many.For(1)}
	for _, slug := range slugs {
		stores = append(stores, many.For(ids[slug]))
	}
	for k, st := range stores {
		share := n*(k+1)/len(stores) - n*k/len(stores)
		if _, err := testkit.SeedRequests(opscope.With(ctx, st.Operator()), hundred, share, testkit.SeedOptions{Now: now, Seed: uint64(k + 1)}); err != nil {
			b.Fatal(err)
		}
	}
	for _, pool := range []*pgxpool.Pool{one, hundred} {
		if _, err := pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
			b.Fatal(err)
		}
	}
	alternateIntakesThrough(b, "HUND", func(on bool, i int64) *Store {
		if on {
			return stores[i%int64(len(stores))]
		}
		return single
	}, func(bool) {})
}

// BenchmarkIntakeInFlight times the group commit with another number of
// batches in flight (intakeInFlight) against the constant's, in
// alternating blocks of 8 concurrent workers on one database: on/off is
// the other number's time over intakeInFlight's.
//
//	go run ./tools/withpg -set fsync=on -set synchronous_commit=on -- go test ./internal/store/ -run '^$' -bench IntakeInFlight -benchtime 20x -count 2
func BenchmarkIntakeInFlight(b *testing.B) {
	for _, k := range []int{1, 3, 4} {
		b.Run(fmt.Sprintf("%d-against-%d", k, intakeInFlight), func(b *testing.B) {
			pool := testkit.DB(b)
			base := New(pool, &intakeOutbox{}, testkit.Keys())
			other := New(pool, &intakeOutbox{}, testkit.Keys())
			other.intake.slots = make(chan struct{}, k)
			alternateIntakesThrough(b, fmt.Sprintf("IF%d", k), func(on bool, _ int64) *Store {
				if on {
					return other
				}
				return base
			}, func(bool) {})
		})
	}
}
