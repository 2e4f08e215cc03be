package connector

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"rightsdesk/internal/datamap"
)

// column is what the check needs to know of a table's column.
type column struct {
	dataType string
	nullable bool
	maxLen   sql.NullInt64
}

// Check connects to every database system with its read credentials and
// checks that every table and column the map names exists and can take
// what erasure writes into it. It returns one line per problem, each naming
// the map's line: an empty list means the map and the systems agree.
// A system that cannot be reached is one line; its tables are not checked.
func (s *Systems) Check(ctx context.Context) []string {
	var out []string
	for _, sys := range s.m.Systems {
		if !sys.Kind.SQL() {
			continue
		}
		out = append(out, s.checkSystem(ctx, sys)...)
	}
	return out
}

// CheckSystem checks one database system as Check does.
func (s *Systems) CheckSystem(ctx context.Context, name string) []string {
	sys := s.m.System(name)
	if sys == nil || !sys.Kind.SQL() {
		return []string{fmt.Sprintf("%s: no database system %q", s.m.File, name)}
	}
	return s.checkSystem(ctx, sys)
}

// Ping connects to a database system with its read credentials.
func (s *Systems) Ping(ctx context.Context, name string) error {
	db, err := s.db(name, false)
	if err != nil {
		return err
	}
	return s.fail(name, "connect", db.PingContext(ctx))
}

func (s *Systems) checkSystem(ctx context.Context, sys *datamap.System) []string {
	m := s.m
	at := func(line int, format string, args ...any) string {
		return m.Where(line) + ": " + fmt.Sprintf(format, args...)
	}
	if err := s.Ping(ctx, sys.Name); err != nil {
		return []string{at(sys.Line, "system %s: cannot connect with read_url_env %s: %v", sys.Name, sys.ReadURLEnv, unwrapSystem(err))}
	}
	db, _ := s.db(sys.Name, false)
	var out []string
	if sys.ChangeURLEnv != "" {
		if _, err := datamap.Secret(s.env, sys.ChangeURLEnv); err == nil {
			if cdb, err := s.db(sys.Name, true); err != nil {
				out = append(out, at(sys.Line, "system %s: change_url_env %s: %v", sys.Name, sys.ChangeURLEnv, unwrapSystem(err)))
			} else if err := cdb.PingContext(ctx); err != nil {
				out = append(out, at(sys.Line, "system %s: cannot connect with change_url_env %s: %v", sys.Name, sys.ChangeURLEnv, err))
			}
		}
	}
	d := dialect(sys.Kind)
	for _, c := range sys.Collections {
		cols, err := tableColumns(ctx, db, d, c)
		if err != nil {
			out = append(out, at(c.Line, "collection %s: cannot read the columns of table %s: %v", c.Name, c.Table, err))
			continue
		}
		if len(cols) == 0 {
			out = append(out, at(c.Line, "collection %s: table %s does not exist (or the read credentials cannot see it)", c.Name, qualified(c)))
			continue
		}
		want := func(line int, col, what string) (column, bool) {
			info, ok := cols[col]
			if !ok {
				out = append(out, at(line, "collection %s: %s %s.%s does not exist", c.Name, what, c.Table, col))
			}
			return info, ok
		}
		if c.Key != "" {
			want(c.Line, c.Key, "key column")
		}
		for _, f := range c.Fields {
			info, ok := want(f.Line, f.Name, "column")
			if !ok {
				continue
			}
			switch f.Erase {
			case datamap.EraseNull:
				if !info.nullable {
					out = append(out, at(f.Line, "collection %s, field %s: the column is NOT NULL, so erase: null cannot work (use value or hash)", c.Name, f.Name))
				}
			case datamap.EraseHash:
				if !isText(info.dataType) {
					out = append(out, at(f.Line, "collection %s, field %s: the column is %s; a keyed hash is text", c.Name, f.Name, info.dataType))
				} else if info.maxLen.Valid && info.maxLen.Int64 < int64(HashLen) {
					out = append(out, at(f.Line, "collection %s, field %s: the column holds %d characters and a keyed hash takes %d (use null or value)", c.Name, f.Name, info.maxLen.Int64, HashLen))
				}
			case datamap.EraseValue:
				if v, ok := f.Value.(string); ok && isText(info.dataType) && info.maxLen.Valid && int64(len([]rune(v))) > info.maxLen.Int64 {
					out = append(out, at(f.Line, "collection %s, field %s: the column holds %d characters and the value has %d", c.Name, f.Name, info.maxLen.Int64, len([]rune(v))))
				}
			}
		}
		for _, r := range c.Relations {
			want(r.Line, r.Column, "relation column")
		}
		for _, a := range []*datamap.Action{c.Restriction, c.ConsentWithdrawal} {
			if a != nil && a.Set != "" {
				want(a.Line, a.Set, "flag column")
			}
		}
	}
	// A relation's other end is a column of another table: checked there
	// as a field, a key or an identity column, all of which are above.
	return out
}

func qualified(c *datamap.Collection) string {
	if c.Schema != "" {
		return c.Schema + "." + c.Table
	}
	return c.Table
}

func unwrapSystem(err error) error {
	if se, ok := err.(*SystemError); ok {
		return se.Err
	}
	return err
}

func tableColumns(ctx context.Context, db *sql.DB, d dialect, c *datamap.Collection) (map[string]column, error) {
	q := &query{d: d}
	schema := "current_schema()"
	if datamap.Kind(d) == datamap.MySQL {
		schema = "DATABASE()"
	}
	if c.Schema != "" {
		schema = q.arg(c.Schema)
	}
	stmt := "SELECT column_name, data_type, is_nullable, character_maximum_length FROM information_schema.columns WHERE table_schema = " + schema + " AND table_name = " + q.arg(c.Table) // #nosec G202 -- schema is a function name or a placeholder, the table a placeholder
	rows, err := db.QueryContext(ctx, stmt, q.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]column{}
	for rows.Next() {
		var name, typ, nullable string
		var maxLen sql.NullInt64
		if err := rows.Scan(&name, &typ, &nullable, &maxLen); err != nil {
			return nil, err
		}
		out[name] = column{dataType: strings.ToLower(typ), nullable: nullable == "YES", maxLen: maxLen}
	}
	return out, rows.Err()
}

func isText(dataType string) bool {
	switch dataType {
	case "text", "character varying", "character", "varchar", "char", "tinytext", "mediumtext", "longtext", "citext":
		return true
	}
	return false
}
