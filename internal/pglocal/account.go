package pglocal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// account is the unprivileged user postgres runs as when we are root;
// a nil *account means "run as ourselves".
type account struct {
	name     string
	uid, gid uint32
	groups   []uint32
}

// serverAccount picks the user to run postgres as: postgres refuses to run as
// root, so root hands it to the postgres system user, or nobody without one.
func serverAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var u *user.User
	var err error
	for _, name := range []string{"postgres", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("pglocal: running as root, postgres needs an unprivileged user, but neither postgres nor nobody exists: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pglocal: user %s: uid %q: %w", u.Username, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pglocal: user %s: gid %q: %w", u.Username, u.Gid, err)
	}
	acc := &account{name: u.Username, uid: uint32(uid), gid: uint32(gid), groups: []uint32{uint32(gid)}}
	// Supplementary groups matter for folder access; without them we still
	// run correctly with the primary group only.
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil && !slices.Contains(acc.groups, uint32(g)) {
				acc.groups = append(acc.groups, uint32(g))
			}
		}
	}
	return acc, nil
}

func (a *account) credential() *syscall.Credential {
	if a == nil {
		return nil
	}
	// Groups is always set so the child drops root's supplementary groups.
	return &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: a.groups}
}

func (a *account) chown(path string) error {
	if a == nil {
		return nil
	}
	if err := os.Lchown(path, int(a.uid), int(a.gid)); err != nil {
		return fmt.Errorf("hand %s to user %s: %w", path, a.name, err)
	}
	return nil
}

func (a *account) chownTree(root string) error {
	if a == nil {
		return nil
	}
	return filepath.WalkDir(root, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return a.chown(path)
	})
}

func (a *account) owns(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == a.uid
}

// canEnter tells from the mode bits whether the account may traverse a
// folder (ACLs are not consulted).
func (a *account) canEnter(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	mode := uint32(fi.Mode().Perm())
	switch {
	case st.Uid == a.uid:
		return mode&0o100 != 0
	case slices.Contains(a.groups, st.Gid):
		return mode&0o010 != 0
	default:
		return mode&0o001 != 0
	}
}

// checkReachable fails, naming the folder, when the account cannot traverse
// one of dir's ancestors. We do not chmod them: they may be a user's home.
func (a *account) checkReachable(dir string) error {
	if a == nil {
		return nil
	}
	paths := []string{dir}
	if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
		paths = append(paths, real)
	}
	for _, p := range paths {
		for d := filepath.Dir(p); ; d = filepath.Dir(d) {
			fi, err := os.Stat(d)
			if err != nil {
				return fmt.Errorf("pglocal: %w", err)
			}
			if !a.canEnter(fi) {
				return fmt.Errorf("pglocal: postgres runs as user %s, which cannot enter folder %s (mode %v): choose a data folder elsewhere or allow access (e.g. chmod o+x %s)",
					a.name, d, fi.Mode().Perm(), d)
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	return nil
}

// prepareFolders creates the data and socket folders, checks the server's
// user can reach them and hands them to it.
func prepareFolders(dataDir, socketDir string, acc *account) error {
	if err := makeDir(dataDir); err != nil {
		return err
	}
	if err := acc.checkReachable(dataDir); err != nil {
		return err
	}
	// Never initialise, or hand to another user, a folder holding other files.
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if len(entries) > 0 && !slices.ContainsFunc(entries, func(e fs.DirEntry) bool { return e.Name() == "PG_VERSION" }) {
		return fmt.Errorf("pglocal: data folder %s is not empty but holds no PostgreSQL cluster: choose an empty or new folder", dataDir)
	}
	if acc != nil {
		fi, err := os.Stat(dataDir)
		if err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
		if !acc.owns(fi) {
			if err := acc.chownTree(dataDir); err != nil {
				return fmt.Errorf("pglocal: %w", err)
			}
		}
	}
	if socketDir == dataDir {
		return nil // initdb and postgres keep the data folder at 0700 or 0750
	}

	if err := makeDir(socketDir); err != nil {
		return err
	}
	fi, err := os.Stat(socketDir)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	// Trust authentication relies on nobody else reaching the socket; a
	// shared folder like /tmp must not be locked down or handed over.
	if fi.Mode()&(fs.ModeSticky|0o022) != 0 {
		return fmt.Errorf("pglocal: socket folder %s is shared (mode %v): use a folder dedicated to this server", socketDir, fi.Mode())
	}
	if err := acc.checkReachable(socketDir); err != nil {
		return err
	}
	if acc != nil && !acc.owns(fi) {
		if err := acc.chown(socketDir); err != nil {
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

// processAlive reports whether pid runs; a zombie (an adopted server that
// exited but was not yet reaped by init) counts as gone.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	return !processIsZombie(pid)
}
