package store

import (
	"context"
	"fmt"
	"regexp"
	"slices"

	"github.com/jackc/pgx/v5"
)

// namedSQL is a statement written with @named parameters, as pgx.NamedArgs
// takes them, rewritten to $1, $2… once, when the program starts.
// pgx.NamedArgs rewrites the statement on every call: for the intake's 4 kB
// statement that cost 30 µs and 21 kB a submission.
type namedSQL struct {
	named string   // as written
	sql   string   // with $1…
	names []string // the parameter of each $n
}

// paramName finds what may be the @names of a statement; pgx's lexer, which
// knows SQL's strings and comments, says which of them are parameters.
var paramName = regexp.MustCompile(`@[A-Za-z_][A-Za-z0-9_]*`)

// mustNamed rewrites sql, and panics (when the package loads, so in every
// test) when a parameter's name cannot be read.
func mustNamed(sql string) namedSQL {
	na := pgx.NamedArgs{}
	for _, p := range paramName.FindAllString(sql, -1) {
		na[p[1:]] = p[1:]
	}
	positional, names, err := na.RewriteQuery(context.Background(), nil, sql, nil)
	if err != nil {
		panic(fmt.Sprintf("store: rewrite a statement's @names: %v", err))
	}
	q := namedSQL{named: sql, sql: positional, names: make([]string, len(names))}
	for i, n := range names {
		name, ok := n.(string)
		if !ok {
			panic(fmt.Sprintf("store: parameter $%d of a statement has a name paramName cannot read:\n%s", i+1, sql))
		}
		q.names[i] = name
	}
	return q
}

// bind lists args in the order of the statement's parameters. As with
// pgx.StrictNamedArgs, a parameter args has no value for, or a value no
// parameter takes, is an error: a misspelt name fails, it does not send NULL.
func (q namedSQL) bind(args map[string]any) ([]any, error) {
	out := make([]any, len(q.names))
	for i, n := range q.names {
		v, ok := args[n]
		if !ok {
			return nil, fmt.Errorf("no value for @%s", n)
		}
		out[i] = v
	}
	if len(args) != len(q.names) {
		var extra []string
		for n := range args {
			if !slices.Contains(q.names, n) {
				extra = append(extra, n)
			}
		}
		slices.Sort(extra)
		return nil, fmt.Errorf("no parameter takes %v", extra)
	}
	return out, nil
}
