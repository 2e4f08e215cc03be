// Package launch is what the private test and development servers
// (internal/pglocal, internal/mariadblocal, internal/dovecotlocal) share to
// run a server program of the machine's: the unprivileged account it runs
// as when we are root, its start as a child that never outlives us and
// keeps a terminal's Ctrl-C away, the wait until it answers, its shutdown
// by escalating signals, a free loopback port, a short folder for its
// sockets, a certificate for its TLS on loopback, finding its binaries and
// the tail of its log for an error.
// What each server is (its arguments, configuration and probe) stays in
// its own package.
package launch

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// Account is the unprivileged user a server runs as when we are root;
// a nil *Account means "run as ourselves", and every method accepts it.
type Account struct {
	name     string
	uid, gid uint32
	groups   []uint32
}

// Unprivileged picks the user a server runs as. Servers refuse to run as
// root (postgres, mariadbd) or should not (dovecot), so root hands the
// server to its own system user, own (created by its Debian package), or
// to nobody without one; anyone else runs it as themselves (nil).
func Unprivileged(own string) (*Account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var u *user.User
	var err error
	for _, name := range []string{own, "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("running as root, the server needs an unprivileged user, but neither %s nor nobody exists: %w", own, err)
	}
	return accountOf(u)
}

func accountOf(u *user.User) (*Account, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: uid %q: %w", u.Username, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: gid %q: %w", u.Username, u.Gid, err)
	}
	acc := &Account{name: u.Username, uid: uint32(uid), gid: uint32(gid), groups: []uint32{uint32(gid)}}
	// Supplementary groups matter for folder access; without them the
	// server still runs, with its primary group only.
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil && !slices.Contains(acc.groups, uint32(g)) {
				acc.groups = append(acc.groups, uint32(g))
			}
		}
	}
	return acc, nil
}

// Name is the account's user name; for nil, ours (nobody when it cannot be
// looked up), as a configuration naming the server's user needs it.
func (a *Account) Name() string {
	if a == nil {
		if u, err := user.Current(); err == nil {
			return u.Username
		}
		return "nobody"
	}
	return a.name
}

// IDs are the account's user and group ids; for nil, ours.
func (a *Account) IDs() (uid, gid int) {
	if a == nil {
		return os.Getuid(), os.Getgid()
	}
	return int(a.uid), int(a.gid)
}

// Credential is what a child runs with to be the account; nil for nil.
func (a *Account) Credential() *syscall.Credential {
	if a == nil {
		return nil
	}
	// Groups is always set so the child drops root's supplementary groups.
	return &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: a.groups}
}

// Chown hands path (not what a link points to) to the account.
func (a *Account) Chown(path string) error {
	if a == nil {
		return nil
	}
	if err := os.Lchown(path, int(a.uid), int(a.gid)); err != nil {
		return fmt.Errorf("hand %s to user %s: %w", path, a.name, err)
	}
	return nil
}

// ChownTree hands root and everything below it to the account.
func (a *Account) ChownTree(root string) error {
	if a == nil {
		return nil
	}
	return filepath.WalkDir(root, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return a.Chown(path)
	})
}

// Owns tells whether the account owns the file; nil owns nothing it must
// be handed.
func (a *Account) Owns(fi fs.FileInfo) bool {
	if a == nil {
		return true
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == a.uid
}

// canEnter tells from the mode bits whether the account may traverse a
// folder (ACLs are not consulted).
func (a *Account) canEnter(fi fs.FileInfo) bool {
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

// CheckReachable fails, naming the folder, when the account cannot
// traverse one of dir's ancestors (through links too). It changes none of
// them: they may be a user's home.
func (a *Account) CheckReachable(dir string) error {
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
				return err
			}
			if !a.canEnter(fi) {
				return fmt.Errorf("the server runs as user %s, which cannot enter folder %s (mode %v): choose a folder elsewhere or allow access (e.g. chmod o+x %s)",
					a.name, d, fi.Mode().Perm(), d)
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	return nil
}
