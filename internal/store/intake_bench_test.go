package store

import (
	"context"
	"fmt"
	"testing"

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
