package launch

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// ProcessAlive reports whether pid runs; a zombie (a server that exited
// but was not yet reaped by its parent) counts as gone.
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	return !processIsZombie(pid)
}

// FindProgram returns the first of names found on PATH or, after PATH, in
// dirs (Debian keeps servers in /usr/sbin, off many users' PATH); "" when
// none is.
func FindProgram(names []string, dirs ...string) string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		for _, dir := range dirs {
			if p := filepath.Join(dir, n); IsExecutable(p) {
				return p
			}
		}
	}
	return ""
}

// IsExecutable tells whether path is a regular file someone may run.
func IsExecutable(path string) bool {
	fi, err := os.Stat(path) // #nosec G703 -- stat of a candidate server binary from PATH or a known folder
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// TempDir makes a new folder for a throwaway server, mode 0700, directly
// under os.TempDir: short, because the server's Unix sockets live in it
// and a socket's path must fit in MaxSocketPathLen bytes.
func TempDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", fmt.Errorf("create a temporary folder: %w", err)
	}
	return dir, nil
}

// FreePort is a TCP port on 127.0.0.1 that nothing listened on a moment
// ago, for a server that can only be told a number.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close() // only reserving a number
	return l.Addr().(*net.TCPAddr).Port, nil
}

// LogTail is the last n lines a server wrote to its log at path from
// offset on (at most the last 8 KiB of them), for an error message; ""
// when there are none.
func LogTail(path string, offset int64, n int) string {
	f, err := os.Open(path) // #nosec G304 -- a server's log in the launcher's own folder
	if err != nil {
		return ""
	}
	defer f.Close()
	const maxBytes = 8 << 10
	if fi, err := f.Stat(); err == nil && fi.Size()-offset > maxBytes {
		offset = fi.Size() - maxBytes
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	data, _ := io.ReadAll(f)
	return LastLines(string(data), n)
}

// LastLines is the last n lines of text.
func LastLines(text string, n int) string {
	text = strings.TrimRight(text, "\n")
	if text == "" {
		return ""
	}
	lines := strings.Split(text, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
