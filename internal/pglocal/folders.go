package pglocal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"rightsdesk/internal/launch"
)

// prepareFolders creates the data and socket folders, checks the server's
// user can reach them and hands them to it.
func prepareFolders(dataDir, socketDir string, acc *launch.Account) error {
	if err := makeDir(dataDir); err != nil {
		return err
	}
	if err := acc.CheckReachable(dataDir); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	// Never initialise, or hand to another user, a folder holding other files.
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if len(entries) > 0 && !slices.ContainsFunc(entries, func(e fs.DirEntry) bool { return e.Name() == "PG_VERSION" }) {
		return fmt.Errorf("pglocal: data folder %s is not empty but holds no PostgreSQL cluster: choose an empty or new folder", dataDir)
	}
	fi, err := os.Stat(dataDir)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if !acc.Owns(fi) {
		if err := acc.ChownTree(dataDir); err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
	}
	if socketDir == dataDir {
		return nil // initdb and postgres keep the data folder at 0700 or 0750
	}

	if err := makeDir(socketDir); err != nil {
		return err
	}
	fi, err = os.Stat(socketDir)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	// Trust authentication relies on nobody else reaching the socket; a
	// shared folder like /tmp must not be locked down or handed over.
	if fi.Mode()&(fs.ModeSticky|0o022) != 0 {
		return fmt.Errorf("pglocal: socket folder %s is shared (mode %v): use a folder dedicated to this server", socketDir, fi.Mode())
	}
	if err := acc.CheckReachable(socketDir); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if !acc.Owns(fi) {
		if err := acc.Chown(socketDir); err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
	}
	if err := os.Chmod(socketDir, 0o700); err != nil { // #nosec G302 -- a folder: owner-only, with the x bit it needs to be entered
		return fmt.Errorf("pglocal: %w", err)
	}
	return nil
}

// makeDir creates dir (0700) and missing parents (0755, so that the server's
// user can traverse them).
func makeDir(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil { // #nosec G301 -- parents must be traversable by PostgreSQL's own user; dir itself is 0700
		return fmt.Errorf("pglocal: create folder: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pglocal: create folder: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("pglocal: %s is not a folder", dir)
	}
	return nil
}
