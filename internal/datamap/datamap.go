// Package datamap reads and checks an operator's data map (DATA_MAP_FILE):
// where personal data lives — systems, their collections (tables), the
// columns a person is found by, the fields with their category and purpose,
// the relations that lead from a person's row to the rows that belong to
// them, what erasure does to each field or why it is kept — and the actions
// that restrict processing or withdraw a consent.
//
// The map holds no secrets: it names the environment variables that do.
// Parse refuses every mistake it can see without connecting anywhere, one
// line per mistake; internal/connector checks the rest against the systems.
package datamap

import (
	"fmt"
	"strconv"
	"strings"

	"rightsdesk/internal/identifier"
)

// Kind is what a system is and how rightsdesk talks to it.
type Kind string

// The kinds of system.
const (
	Postgres Kind = "postgres"
	MySQL    Kind = "mysql" // MySQL and MariaDB
	HTTP     Kind = "http"  // the operator's own code, called per identity
)

// SQL reports whether the system is a database rightsdesk queries.
func (k Kind) SQL() bool { return k == Postgres || k == MySQL }

// Map is a parsed, statically valid data map.
type Map struct {
	// File is the name the map was read from, for messages.
	File string
	// Digest identifies the map's content (hex SHA-256 of the file): a plan
	// made under one map is executed only under the same map.
	Digest string
	// Identities are the kinds of identifier the operator finds people by.
	Identities []identifier.Kind
	// HashKeyEnv names the variable holding the key of keyed-hash erasure.
	HashKeyEnv string
	Purposes   map[string]Text
	Reasons    map[string]Text
	// Systems and Collections are in the order of the file.
	Systems     []*System
	Collections []*Collection

	hashKeyLine int
}

// Text is a sentence the requester reads, in each language.
type Text struct {
	RU, KK, EN string
}

// In returns the text in a language (ru, kk, en), Russian for any other.
func (t Text) In(locale string) string {
	switch locale {
	case "kk":
		return t.KK
	case "en":
		return t.EN
	}
	return t.RU
}

// System is one of the operator's systems.
type System struct {
	Name string
	Kind Kind
	Line int
	// ReadURLEnv names the variable with the connection URL of a database
	// role that can only read; ChangeURLEnv, optional, one that may change
	// what erasure, rectification and restriction change.
	ReadURLEnv, ChangeURLEnv string
	// URLEnv and SecretEnv name the variables with an HTTP system's
	// endpoint and its signing secret.
	URLEnv, SecretEnv string
	// Collections are this system's collections, in the order of the file.
	Collections []*Collection
}

// Collection is a table of a database system.
type Collection struct {
	Name   string
	Line   int
	System *System
	// Label is the collection's name as the requester reads it (zero when
	// the map gives none).
	Label Text
	// Schema is empty for the connection's default schema (PostgreSQL's
	// search path, MySQL's database).
	Schema, Table string
	// Key is the table's primary key column; needed to hash fields row by row.
	Key string
	// Identity lists the columns rows are matched by, in identifier.Kinds order.
	Identity  []IdentityColumn
	Relations []Relation
	Fields    []*Field
	// Retention is how long rows are kept in the ordinary course, shown to
	// the requester; nil when the map does not say.
	Retention *Period
	// Restriction and ConsentWithdrawal are what those requests do here;
	// nil when nothing.
	Restriction, ConsentWithdrawal *Action

	// relationColumns are the columns the file's relations name, known
	// before the relations are resolved (they may lead to later collections).
	relationColumns []string
}

// IdentityColumn is a column holding one kind of identifier.
type IdentityColumn struct {
	Kind   identifier.Kind
	Column string
}

// Relation says a row of the collection belongs to the person when its
// Column equals To's ToColumn in a row of To that belongs to them.
type Relation struct {
	Column   string
	To       *Collection
	ToColumn string
	Line     int
}

// Erasure is what erasing a person does to a field.
type Erasure string

// The erasures.
const (
	EraseNull   Erasure = "null"   // set to NULL
	EraseValue  Erasure = "value"  // set to a fixed value
	EraseHash   Erasure = "hash"   // replaced by a keyed hash (a pseudonym)
	EraseDelete Erasure = "delete" // the whole row is deleted
	EraseKeep   Erasure = "keep"   // kept, for a legal reason, for a time
)

// Field is a column holding personal data.
type Field struct {
	Name string // the column
	Line int
	// Label is what the requester reads instead of the column's name; zero
	// when the map gives none.
	Label    Text
	Category Category
	Purpose  string
	Erase    Erasure
	// Value is the fixed value of EraseValue.
	Value any
	// Reason and KeepFor say why and how long an EraseKeep field is kept.
	Reason  string
	KeepFor Period
}

// Action is what a restriction or a consent withdrawal does to a collection:
// set a flag column, or call an HTTP system.
type Action struct {
	Line int
	// Set names the column set to Value.
	Set   string
	Value any
	// HTTP is the system called, with Name as the action it is asked for.
	HTTP *System
	Name string
}

// Period is a length of time in whole years, months or days.
type Period struct {
	N    int
	Unit string // "y", "m" or "d"
}

// String writes the period as the map does: 5y, 6m, 30d.
func (p Period) String() string {
	if p.N == 0 {
		return ""
	}
	return strconv.Itoa(p.N) + p.Unit
}

// IsZero reports a period that was not given.
func (p Period) IsZero() bool { return p.N == 0 }

func parsePeriod(s string) (Period, bool) {
	if len(s) < 2 {
		return Period{}, false
	}
	unit := s[len(s)-1:]
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n < 1 || !strings.Contains("ymd", unit) {
		return Period{}, false
	}
	limit := map[string]int{"y": 100, "m": 1200, "d": 36500}[unit]
	if n > limit {
		return Period{}, false
	}
	return Period{N: n, Unit: unit}, true
}

// Collection returns the collection of that name, or nil.
func (m *Map) Collection(name string) *Collection {
	for _, c := range m.Collections {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// System returns the system of that name, or nil.
func (m *Map) System(name string) *System {
	for _, s := range m.Systems {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Field returns the collection's field of that name, or nil.
func (c *Collection) Field(name string) *Field {
	for _, f := range c.Fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// Deletes reports whether erasure deletes the collection's rows.
func (c *Collection) Deletes() bool {
	return len(c.Fields) > 0 && c.Fields[0].Erase == EraseDelete
}

// String names the collection with its system, for messages: lms.students.
func (c *Collection) String() string { return c.System.Name + "." + c.Name }

// ChangeOrder is the order in which a system's collections are changed in
// one transaction: every collection before those its relations lead to, so
// that a row's owner is still found through its parent while the child is
// being changed, and rows that reference a deleted row go first.
func (s *System) ChangeOrder() []*Collection {
	var out []*Collection
	done := map[*Collection]bool{}
	// Reverse post-order over "is referenced by": a collection is placed
	// once everything that leads to it through a relation is placed.
	children := map[*Collection][]*Collection{}
	for _, c := range s.Collections {
		for _, r := range c.Relations {
			children[r.To] = append(children[r.To], c)
		}
	}
	var visit func(c *Collection)
	visit = func(c *Collection) {
		if done[c] {
			return
		}
		done[c] = true
		for _, ch := range children[c] {
			visit(ch)
		}
		out = append(out, c)
	}
	for _, c := range s.Collections {
		visit(c)
	}
	return out
}

// HTTPActions lists the collections whose action for a request type
// (restriction, consent_withdrawal) calls the HTTP system sys.
func (m *Map) HTTPActions(sys *System, typ string) []*Collection {
	var out []*Collection
	for _, c := range m.Collections {
		if a := c.Action(typ); a != nil && a.HTTP == sys {
			out = append(out, c)
		}
	}
	return out
}

// Action returns the collection's action for a request type, or nil.
func (c *Collection) Action(typ string) *Action {
	switch typ {
	case "restriction":
		return c.Restriction
	case "consent_withdrawal":
		return c.ConsentWithdrawal
	}
	return nil
}

// Where names a line of the map, for messages: "lms.yaml:12".
func (m *Map) Where(line int) string {
	return fmt.Sprintf("%s:%d", m.File, line)
}
