package mariadblocal

import "syscall"

func serverProcAttr() *syscall.SysProcAttr {
	// SIGTERM is mariadbd's clean shutdown: the server never outlives a
	// killed launcher. Its own process group keeps a terminal's Ctrl-C away.
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
}
