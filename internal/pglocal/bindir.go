package pglocal

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"rightsdesk/internal/launch"
)

// FindBinDir returns the folder holding the PostgreSQL server binaries
// (initdb and postgres): the first PATH entry with both, else the usual
// install locations, highest version first. Debian's postgresql package keeps
// them off PATH, in /usr/lib/postgresql/<version>/bin.
func FindBinDir() (string, error) {
	var candidates []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir != "" {
			candidates = append(candidates, dir)
		}
	}
	candidates = append(candidates, globByVersion("/usr/lib/postgresql/*/bin")...) // Debian, Ubuntu
	candidates = append(candidates, globByVersion("/usr/pgsql-*/bin")...)          // PGDG RPMs
	candidates = append(candidates, "/usr/local/pgsql/bin")                        // source builds
	candidates = append(candidates, globByVersion("/opt/homebrew/opt/postgresql@*/bin")...)
	candidates = append(candidates, globByVersion("/usr/local/opt/postgresql@*/bin")...)
	candidates = append(candidates, "/opt/homebrew/bin", "/usr/local/bin",
		"/Applications/Postgres.app/Contents/Versions/latest/bin")

	for _, dir := range candidates {
		if !hasServerBinaries(dir) {
			continue
		}
		// Report the real folder when PATH holds symlinks to it.
		if real, err := filepath.EvalSymlinks(filepath.Join(dir, "initdb")); err == nil && hasServerBinaries(filepath.Dir(real)) {
			dir = filepath.Dir(real)
		}
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		return dir, nil
	}
	return "", errors.New("pglocal: no PostgreSQL server binaries (initdb and postgres) on PATH or in /usr/lib/postgresql/*/bin, " +
		"/usr/pgsql-*/bin, /usr/local/pgsql/bin or Homebrew: install PostgreSQL (Debian/Ubuntu: apt-get install postgresql)")
}

func hasServerBinaries(dir string) bool {
	return launch.IsExecutable(filepath.Join(dir, "initdb")) && launch.IsExecutable(filepath.Join(dir, "postgres"))
}

// globByVersion expands pattern and orders the matches by the version number
// in them, highest first (so 15 comes before 9.6).
func globByVersion(pattern string) []string {
	matches, _ := filepath.Glob(pattern)
	sortByVersion(matches)
	return matches
}

func sortByVersion(paths []string) {
	slices.SortFunc(paths, func(a, b string) int { return compareVersions(b, a) })
}

func compareVersions(a, b string) int {
	notDigit := func(r rune) bool { return r < '0' || r > '9' }
	fa, fb := strings.FieldsFunc(a, notDigit), strings.FieldsFunc(b, notDigit)
	for i := 0; i < len(fa) && i < len(fb); i++ {
		na, _ := strconv.Atoi(fa[i])
		nb, _ := strconv.Atoi(fb[i])
		if na != nb {
			return na - nb
		}
	}
	return len(fa) - len(fb)
}
