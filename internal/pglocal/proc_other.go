//go:build unix && !linux

package pglocal

import "syscall"

// maxSocketPathLen is sizeof(sun_path) minus the terminating NUL on the BSDs
// and macOS.
const maxSocketPathLen = 103

func serverProcAttr(acc *account) *syscall.SysProcAttr {
	// No Pdeathsig here: a server that outlives a killed launcher is adopted
	// by the next Start.
	return &syscall.SysProcAttr{Credential: acc.credential(), Setpgid: true}
}

func initdbProcAttr(acc *account) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: acc.credential()}
}

func processIsPostgres(int) bool { return true }

func processIsZombie(int) bool { return false }
