package laketest

import "syscall"

// childProcAttr makes the kernel kill minio if the test binary dies (a
// timeout panic, a kill), so that no server outlives its test.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
