//go:build unix && !linux

package launch

import "syscall"

// MaxSocketPathLen is sizeof(sun_path) minus the terminating NUL on the
// BSDs and macOS: the longest path a Unix socket may have.
const MaxSocketPathLen = 103

func serverProcAttr(cred *syscall.Credential, _ syscall.Signal) *syscall.SysProcAttr {
	// No death signal here: a server that outlives a killed launcher is
	// left for the next start to adopt or for its folder's removal.
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true}
}

// ProcessName cannot be told here without /proc.
func ProcessName(int) (string, bool) { return "", false }

func processIsZombie(int) bool { return false }
