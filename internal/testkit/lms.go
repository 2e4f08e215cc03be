package testkit

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/peterldowns/pgtestdb"

	"rightsdesk/internal/datamap"
)

// EmptyDBURL returns the URL of a fresh PostgreSQL database with no schema,
// owned by the test role.
func EmptyDBURL(tb testing.TB) string {
	tb.Helper()
	return dbURL(tb, pgtestdb.NoopMigrator{})
}

// RepoFile is the path of a file of the repository, from any package's tests.
func RepoFile(parts ...string) string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(self), "..", ".."}, parts...)...)
}

// LMSExampleSQL is the example education platform's schema and seed.
func LMSExampleSQL(tb testing.TB) []string {
	tb.Helper()
	b, err := os.ReadFile(RepoFile("deploy", "datamaps", "lms-example.sql"))
	if err != nil {
		tb.Fatal(err)
	}
	return SQLStatements(string(b))
}

// SQLStatements splits a script at the semicolons that end its lines,
// dropping comment lines (the example scripts have no semicolons inside
// strings at a line's end).
func SQLStatements(script string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(script, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	return out
}

// Exec runs statements on a database/sql pool, failing the test on error.
func Exec(tb testing.TB, db *sql.DB, stmts ...string) {
	tb.Helper()
	for _, s := range stmts {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			tb.Fatalf("%s: %v", firstLine(s), err)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// LMSServer is the example database loaded into one server, with an owner's
// URL and the URLs of a role that can only read and of one that may change.
type LMSServer struct {
	Kind                   string // "postgres" or "mysql"
	Owner, Reader, Changer string
	DB                     *sql.DB // as the owner

	readerRole, changerRole string
}

// Grant gives the reader and the changer their rights on a table created
// after the example was loaded (MariaDB's are for the whole database).
func (s LMSServer) Grant(tb testing.TB, quotedTable string) {
	tb.Helper()
	if s.Kind != "postgres" {
		return
	}
	Exec(tb, s.DB,
		"GRANT SELECT ON "+quotedTable+" TO "+pgx.Identifier{s.readerRole}.Sanitize()+", "+pgx.Identifier{s.changerRole}.Sanitize(),
		"GRANT UPDATE, DELETE ON "+quotedTable+" TO "+pgx.Identifier{s.changerRole}.Sanitize())
}

// LMSPostgres loads the example into a fresh PostgreSQL database and makes
// its two roles (SELECT; SELECT, UPDATE, DELETE).
func LMSPostgres(tb testing.TB) LMSServer {
	tb.Helper()
	owner := EmptyDBURL(tb)
	db, err := sql.Open("pgx", owner)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	Exec(tb, db, LMSExampleSQL(tb)...)
	u, err := url.Parse(owner)
	if err != nil {
		tb.Fatal(err)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	super, err := url.Parse(PostgresURL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	super.Path = "/" + dbName
	sdb, err := sql.Open("pgx", super.String())
	if err != nil {
		tb.Fatal(err)
	}
	defer sdb.Close()
	// Role names are at most 63 bytes; the database's name is long.
	suffix := dbName[max(0, len(dbName)-16):]
	reader, changer := "lms_reader_"+suffix, "lms_changer_"+suffix
	Exec(tb, sdb,
		"CREATE ROLE "+pgx.Identifier{reader}.Sanitize()+" LOGIN PASSWORD 'reader'",
		"CREATE ROLE "+pgx.Identifier{changer}.Sanitize()+" LOGIN PASSWORD 'changer'",
		"GRANT SELECT ON ALL TABLES IN SCHEMA public TO "+pgx.Identifier{reader}.Sanitize()+", "+pgx.Identifier{changer}.Sanitize(),
		"GRANT UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "+pgx.Identifier{changer}.Sanitize(),
	)
	tb.Cleanup(func() {
		s, err := sql.Open("pgx", PostgresURL(tb))
		if err != nil {
			return
		}
		defer s.Close()
		// Best effort: the cluster is thrown away at the end of the run.
		for _, r := range []string{reader, changer} {
			_, _ = s.ExecContext(context.Background(), "DROP OWNED BY "+pgx.Identifier{r}.Sanitize())
		}
	})
	as := func(user, pass string) string {
		v := *u
		v.User = url.UserPassword(user, pass)
		return v.String()
	}
	return LMSServer{Kind: "postgres", Owner: owner, Reader: as(reader, "reader"), Changer: as(changer, "changer"), DB: db,
		readerRole: reader, changerRole: changer}
}

// LMSMySQL loads the example into a fresh MariaDB database and makes its
// two accounts, as LMSPostgres does.
func LMSMySQL(tb testing.TB) LMSServer {
	tb.Helper()
	owner := MySQLDB(tb)
	db := OpenMySQL(tb, owner)
	Exec(tb, db, LMSExampleSQL(tb)...)
	u, err := url.Parse(owner)
	if err != nil {
		tb.Fatal(err)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	reader, changer := "r"+dbName[1:], "c"+dbName[1:]
	Exec(tb, db,
		"CREATE USER '"+reader+"'@'localhost' IDENTIFIED BY 'reader'",
		"CREATE USER '"+changer+"'@'localhost' IDENTIFIED BY 'changer'",
		"GRANT SELECT ON "+dbName+".* TO '"+reader+"'@'localhost'",
		"GRANT SELECT, UPDATE, DELETE ON "+dbName+".* TO '"+changer+"'@'localhost'",
	)
	tb.Cleanup(func() {
		d := openMySQL(tb, owner)
		defer d.Close()
		for _, r := range []string{reader, changer} {
			_, _ = d.ExecContext(context.Background(), "DROP USER IF EXISTS '"+r+"'@'localhost'") // best effort
		}
	})
	as := func(user, pass string) string {
		v := *u
		v.User = url.UserPassword(user, pass)
		return v.String()
	}
	return LMSServer{Kind: "mysql", Owner: owner, Reader: as(reader, "reader"), Changer: as(changer, "changer"), DB: db}
}

// LMSHashKey is the keyed-hash erasure key of the example in tests.
const LMSHashKey = "test hash key, never in use"

// LMSMap parses the example map (deploy/datamaps/lms-example.yaml) with
// edit applied to its text (nil for none) and the system's kind set to the
// server's, and returns it with the environment pointing at the server's
// reader and changer.
func LMSMap(tb testing.TB, srv LMSServer, edit func(string) string) (*datamap.Map, datamap.Env) {
	tb.Helper()
	path := RepoFile("deploy", "datamaps", "lms-example.yaml")
	b, err := os.ReadFile(path) // #nosec G304 -- the repository's own example map
	if err != nil {
		tb.Fatal(err)
	}
	text := strings.Replace(string(b), "kind: postgres", "kind: "+srv.Kind, 1)
	if edit != nil {
		text = edit(text)
	}
	m, err := datamap.Parse("lms-example.yaml", []byte(text))
	if err != nil {
		tb.Fatal(err)
	}
	env := map[string]string{
		"LMS_DATABASE_URL":        srv.Reader,
		"LMS_DATABASE_CHANGE_URL": srv.Changer,
		"LMS_ERASURE_HASH_KEY":    LMSHashKey,
	}
	return m, func(name string) (string, bool) { v, ok := env[name]; return v, ok }
}
