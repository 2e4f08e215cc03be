package store

import (
	"slices"
	"strings"
	"testing"
)

// A named statement sends each value to the parameter of its name, however
// often and in whatever order the names stand; a name without a value, or a
// value without a parameter, is refused rather than sent as NULL.
func TestNamedParametersAreBoundByNameAndChecked(t *testing.T) {
	q := mustNamed(`SELECT @b::int, '@not_a_parameter', @a::text -- @nor_this
		WHERE @b::int > 0`)
	if want := `SELECT $1::int, '@not_a_parameter', $2::text -- @nor_this
		WHERE $1::int > 0`; q.sql != want {
		t.Errorf("rewritten:\n%s\nwant\n%s", q.sql, want)
	}
	args, err := q.bind(map[string]any{"a": "x", "b": 7})
	if err != nil || !slices.Equal(args, []any{7, "x"}) {
		t.Errorf("bound %v %v, want [7 x]", args, err)
	}
	if _, err := q.bind(map[string]any{"b": 7}); err == nil || !strings.Contains(err.Error(), "@a") {
		t.Errorf("a missing value: %v, want an error naming @a", err)
	}
	if _, err := q.bind(map[string]any{"a": "x", "b": 7, "c": 1}); err == nil || !strings.Contains(err.Error(), "c") {
		t.Errorf("a value for no parameter: %v, want an error naming c", err)
	}
	for _, name := range []string{"not_a_parameter", "nor_this"} {
		if slices.Contains(q.names, name) {
			t.Errorf("%s, in a string or a comment, was taken for a parameter", name)
		}
	}
	// Every statement of the store is checked when the package loads; these
	// are the two with the most parameters.
	if len(createRequest.names) != 42 || len(updateRequest.names) != 19 {
		t.Errorf("the intake takes %d parameters and the update %d, want 42 and 19",
			len(createRequest.names), len(updateRequest.names))
	}
}
