package procs

import "syscall"

// Each child gets its own process group, so a Ctrl-C at the terminal reaches only the
// parent, which then stops the children in order; Pdeathsig ends a child if the parent
// dies without stopping it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
