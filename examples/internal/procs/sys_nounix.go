//go:build !unix

package procs

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
