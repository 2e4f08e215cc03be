package accesspack_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rightsdesk/internal/accesspack"
	"rightsdesk/internal/connector"
	"rightsdesk/internal/identifier"
	"rightsdesk/internal/request"
	"rightsdesk/internal/testkit"
	"rightsdesk/web"
)

// benchRows is how many rows the benchmark's student has, over the eight
// collections of the example map: 10,000, or RIGHTSDESK_BENCH_ROWS (to see
// that the package's peak memory does not grow with the rows).
var benchRows = func() int {
	if n, err := strconv.Atoi(os.Getenv("RIGHTSDESK_BENCH_ROWS")); err == nil && n >= 100 {
		return n
	}
	return 10000
}()

// seedBench gives aigerim (student 1) benchRows rows in all and Daniyar
// (student 2) as many again, so that finding hers means leaving his.
func seedBench(tb testing.TB, db *sql.DB) {
	tb.Helper()
	// Beyond her seed rows (12), spread over the seven related tables.
	per := (benchRows - 12) / 7
	extra := benchRows - 12 - 7*per
	insert := func(table, cols string, n int, row func(i int) string) {
		const batch = 500
		for start := 0; start < n; start += batch {
			var vals []string
			for i := start; i < min(start+batch, n); i++ {
				vals = append(vals, row(i))
			}
			testkit.Exec(tb, db, "INSERT INTO "+table+" ("+cols+") VALUES "+strings.Join(vals, ","))
		}
	}
	id := 1000
	next := func() int { id++; return id }
	for _, student := range []int{1, 2} {
		s := fmt.Sprint(student)
		insert("guardians", "id, student_id, full_name, phone, relationship", per+extra, func(i int) string {
			return fmt.Sprintf("(%d, %s, 'Опекун %d', '+7 701 000 %04d', 'guardian')", next(), s, i, i%10000)
		})
		firstEnrolment := id + 1
		insert("enrolments", "id, student_id, course_id, enrolled_at, grade", per, func(i int) string {
			return fmt.Sprintf("(%d, %s, %d, '2025-01-01 10:00:00', 'B')", next(), s, 1+i%3)
		})
		insert("certificates", "id, enrolment_id, number, issued_at", per, func(i int) string {
			return fmt.Sprintf("(%d, %d, 'LMS-B-%s-%06d', '2025-06-20')", next(), firstEnrolment+i, s, i)
		})
		insert("payments", "id, student_id, amount, paid_at, payer_name, card_last4", per, func(i int) string {
			return fmt.Sprintf("(%d, %s, %d.50, '2025-02-01 08:00:00', 'Плательщик %d', '%04d')", next(), s, 1000+i, i, i%10000)
		})
		insert("forum_posts", "id, student_id, course_id, title, body, posted_at", per, func(i int) string {
			return fmt.Sprintf("(%d, %s, 1, 'Вопрос %d', 'Текст сообщения номер %d, в котором есть несколько слов о задаче.', '2025-03-01 12:00:00')", next(), s, i, i)
		})
		insert("messages", "id, sender_id, recipient_id, body, sent_at", per, func(i int) string {
			return fmt.Sprintf("(%d, %s, 3, 'Сообщение %d', '2025-03-02 12:00:00')", next(), s, i)
		})
		insert("login_log", "id, student_id, ip_address, user_agent, logged_at", per, func(i int) string {
			return fmt.Sprintf("(%d, %s, '10.0.%d.%d', 'Mozilla/5.0 (X11; Linux x86_64)', '2025-03-03 08:00:00')", next(), s, i/256%256, i%256)
		})
	}
}

// bare runs, for the same student, the queries a hand-written export would:
// each table's rows by her id, read and thrown away.
func bare(ctx context.Context, db *sql.DB, mysql bool) (int, error) {
	ph := "$1"
	if mysql {
		ph = "?"
	}
	sub := "(SELECT id FROM students WHERE LOWER(email) = " + ph + ")"
	queries := []string{
		"SELECT login, email, phone, full_name, birth_date, city, marketing_consent FROM students WHERE LOWER(email) = " + ph,
		"SELECT full_name, phone, relationship FROM guardians WHERE student_id IN " + sub,
		"SELECT course_id, enrolled_at, grade FROM enrolments WHERE student_id IN " + sub,
		"SELECT number, issued_at FROM certificates WHERE enrolment_id IN (SELECT id FROM enrolments WHERE student_id IN " + sub + ")",
		"SELECT amount, paid_at, payer_name, card_last4 FROM payments WHERE student_id IN " + sub,
		"SELECT title, body, posted_at FROM forum_posts WHERE student_id IN " + sub,
		"SELECT body, sent_at FROM messages WHERE sender_id IN " + sub,
		"SELECT ip_address, user_agent, logged_at FROM login_log WHERE student_id IN " + sub,
	}
	n := 0
	for _, q := range queries {
		rows, err := db.QueryContext(ctx, q, "aigerim@example.kz")
		if err != nil {
			return n, err
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return n, err
			}
			n++
		}
		if err := rows.Close(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// peakHeap runs fn and returns the most heap its objects took above what
// was live before, sampled every millisecond.
func peakHeap(fn func() error) (uint64, error) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > base && v-base > peak.Load() {
				peak.Store(v - base)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	err := fn()
	close(done)
	wg.Wait()
	return peak.Load(), err
}

// BenchmarkAccessPackage10kRows gathers a student with 10,000 rows over the
// example's eight tables into the access package, and runs the bare
// queries for the same rows side by side: it reports both times, the
// ratio, and each one's peak heap (docs/benchmarks.md).
//
//	bin/withpg -- go test -run '^$' -bench AccessPackage -benchtime 20x ./internal/accesspack/
//	RIGHTSDESK_BENCH_ROWS=40000 bin/withpg -- go test -run '^$' -bench AccessPackage -benchtime 5x ./internal/accesspack/
func BenchmarkAccessPackage10kRows(b *testing.B) {
	for _, kind := range []string{"postgres", "mariadb"} {
		b.Run(kind, func(b *testing.B) {
			var srv testkit.LMSServer
			if kind == "postgres" {
				srv = testkit.LMSPostgres(b)
			} else {
				srv = testkit.LMSMySQL(b)
			}
			seedBench(b, srv.DB)
			m, env := testkit.LMSMap(b, srv, nil)
			systems := connector.New(m, env)
			b.Cleanup(func() { systems.Close() })
			builder, err := accesspack.New(web.Files)
			if err != nil {
				b.Fatal(err)
			}
			cat, err := web.Catalog()
			if err != nil {
				b.Fatal(err)
			}
			readerDB := openAs(b, srv, srv.Reader)
			ctx := context.Background()
			var bareTime, packTime time.Duration
			var barePeak, packPeak uint64
			var size int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				peak, err := peakHeap(func() error {
					n, err := bare(ctx, readerDB, kind == "mariadb")
					if err == nil && n != benchRows {
						err = fmt.Errorf("bare queries read %d rows, want %d", n, benchRows)
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				bareTime += time.Since(start)
				barePeak = max(barePeak, peak)

				start = time.Now()
				peak, err = peakHeap(func() error {
					r := systems.Read(identifier.Identity{Email: "aigerim@example.kz"})
					defer r.Close()
					cw := &countingWriter{}
					sum, err := builder.Write(ctx, cw, accesspack.Input{Map: m, Source: r, Printer: cat.Printer(request.Russian), Org: "Oqu Online", Now: time.Now()})
					if err == nil && sum.Rows != int64(benchRows) {
						err = fmt.Errorf("the package holds %d rows, want %d", sum.Rows, benchRows)
					}
					size = cw.n
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				packTime += time.Since(start)
				packPeak = max(packPeak, peak)
			}
			b.ReportMetric(float64(bareTime.Milliseconds())/float64(b.N), "bare-ms/op")
			b.ReportMetric(float64(packTime.Milliseconds())/float64(b.N), "package-ms/op")
			b.ReportMetric(float64(packTime)/float64(bareTime), "time-ratio")
			b.ReportMetric(float64(barePeak)/(1<<20), "bare-peak-MiB")
			b.ReportMetric(float64(packPeak)/(1<<20), "package-peak-MiB")
			b.ReportMetric(float64(size)/(1<<20), "zip-MiB")
		})
	}
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countingWriter)(nil)

func openAs(tb testing.TB, srv testkit.LMSServer, url string) *sql.DB {
	tb.Helper()
	if srv.Kind == "mysql" {
		return testkit.OpenMySQL(tb, url)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
