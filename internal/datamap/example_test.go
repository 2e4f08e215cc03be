package datamap_test

import (
	"testing"

	"rightsdesk/internal/datamap"
)

func TestTheExampleMapsAreValid(t *testing.T) {
	for _, f := range []string{"../../deploy/datamaps/lms-example.yaml", "../../deploy/datamaps/moodle.yaml"} {
		m, err := datamap.Load(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(m.Collections) == 0 {
			t.Fatalf("%s: no collections", f)
		}
	}
}
