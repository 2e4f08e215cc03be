package launch

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// MaxSocketPathLen is sizeof(sun_path) minus the terminating NUL: the
// longest path a Unix socket may have.
const MaxSocketPathLen = 107

func serverProcAttr(cred *syscall.Credential, deathSignal syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: deathSignal, Setpgid: true}
}

// ProcessName is the command name of a running process (/proc/PID/comm);
// ok is false when it cannot be told.
func ProcessName(pid int) (name string, ok bool) {
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return "", false
	}
	return string(bytes.TrimSpace(comm)), true
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
