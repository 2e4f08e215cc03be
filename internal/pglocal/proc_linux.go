package pglocal

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// maxSocketPathLen is sizeof(sun_path) minus the terminating NUL.
const maxSocketPathLen = 107

func serverProcAttr(acc *account) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Credential: acc.credential(),
		// SIGINT is postgres's fast shutdown: the server never outlives a
		// killed launcher.
		Pdeathsig: syscall.SIGINT,
		// Its own process group keeps a terminal's Ctrl-C away from the
		// server, so the launcher can stop it after the work it serves.
		Setpgid: true,
	}
}

func initdbProcAttr(acc *account) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: acc.credential()}
}

// processIsPostgres tells whether pid is a postgres process, so that a PID
// recycled by an unrelated process is not mistaken for a running server.
func processIsPostgres(pid int) bool {
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return true // cannot tell: let postgres judge its lock file
	}
	name := string(bytes.TrimSpace(comm))
	return name == "postgres" || name == "postmaster"
}

func processIsZombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may hold spaces.
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && strings.HasPrefix(strings.TrimSpace(string(stat[i+1:])), "Z")
}
