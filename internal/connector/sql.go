// Package connector talks to the systems of a data map: PostgreSQL (pgx)
// and MySQL/MariaDB (go-sql-driver/mysql) through database/sql, and the
// operator's own code over signed HTTP. It reads a person's rows as a
// stream, in one read-only transaction per system, with the read
// credentials; it changes them, in one transaction per system, only with
// the change credentials. Every value travels as a statement parameter and
// every name is quoted by its dialect's rules.
package connector

import (
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/datamap"
	"rightsdesk/internal/identifier"
)

// dialect writes SQL for one kind of database.
type dialect datamap.Kind

// ident quotes a (possibly schema-qualified) name: PostgreSQL's double
// quotes through pgx, MySQL's backticks with backticks doubled.
func (d dialect) ident(parts ...string) string {
	var nonEmpty []string
	for _, p := range parts {
		if p != "" {
			nonEmpty = append(nonEmpty, p)
		}
	}
	if datamap.Kind(d) == datamap.Postgres {
		return pgx.Identifier(nonEmpty).Sanitize()
	}
	quoted := make([]string, len(nonEmpty))
	for i, p := range nonEmpty {
		quoted[i] = "`" + strings.ReplaceAll(p, "`", "``") + "`"
	}
	return strings.Join(quoted, ".")
}

func (d dialect) table(c *datamap.Collection) string { return d.ident(c.Schema, c.Table) }

// text is a column read as text, for comparing with an identifier.
func (d dialect) text(col string) string {
	if datamap.Kind(d) == datamap.Postgres {
		return "CAST(" + col + " AS text)"
	}
	return "CAST(" + col + " AS CHAR)"
}

// distinct is "a differs from b", NULL counting as a value.
func (d dialect) distinct(a, b string) string {
	if datamap.Kind(d) == datamap.Postgres {
		return a + " IS DISTINCT FROM " + b
	}
	return "NOT (" + a + " <=> " + b + ")"
}

// phoneDigits is the SQL form of identifier.Phone for a column: its last
// ten digits.
func (d dialect) phoneDigits(col string) string {
	n := strconv.Itoa(identifier.PhoneMatchDigits)
	if datamap.Kind(d) == datamap.Postgres {
		return "right(regexp_replace(" + d.text(col) + ", '[^0-9]', '', 'g'), " + n + ")"
	}
	return "RIGHT(REGEXP_REPLACE(" + d.text(col) + ", '[^0-9]', ''), " + n + ")"
}

// query is a statement being built with its parameters.
type query struct {
	d    dialect
	args []any
}

// arg adds a parameter and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	if datamap.Kind(q.d) == datamap.Postgres {
		return "$" + strconv.Itoa(len(q.args))
	}
	return "?"
}

// owner is the condition that a row of c belongs to the person: one of its
// identity columns matches, or a relation leads to a row of theirs. "" when
// nothing of the identity can match here.
func (q *query) owner(c *datamap.Collection, id identifier.Identity) string {
	var parts []string
	for _, ic := range c.Identity {
		v := id.Value(ic.Kind)
		if v == "" {
			continue
		}
		col := q.d.ident(ic.Column)
		switch ic.Kind {
		case identifier.KindEmail:
			parts = append(parts, "LOWER("+q.d.text(col)+") = "+q.arg(v))
		case identifier.KindPhone:
			parts = append(parts, q.d.phoneDigits(col)+" = "+q.arg(v))
		case identifier.KindAccountID:
			parts = append(parts, q.d.text(col)+" = "+q.arg(v))
		}
	}
	for _, r := range c.Relations {
		inner := q.owner(r.To, id)
		if inner == "" {
			continue
		}
		parts = append(parts, q.d.ident(r.Column)+" IN (SELECT "+q.d.ident(r.ToColumn)+" FROM "+q.d.table(r.To)+" WHERE "+inner+")")
	}
	if len(parts) == 0 {
		return ""
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// columns lists the fields of c, quoted, for a SELECT.
func (q *query) columns(c *datamap.Collection) string {
	cols := make([]string, len(c.Fields))
	for i, f := range c.Fields {
		cols[i] = q.d.ident(f.Name)
	}
	return strings.Join(cols, ", ")
}

// order keeps a person's rows in a stable order: by the key, else by the
// fields as listed.
func (q *query) order(c *datamap.Collection) string {
	if c.Key != "" {
		return " ORDER BY " + q.d.ident(c.Key)
	}
	return " ORDER BY " + q.columns(c)
}
