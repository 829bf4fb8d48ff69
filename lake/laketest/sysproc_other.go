//go:build !linux

package laketest

import "syscall"

// childProcAttr has no parent-death signal outside Linux: t.Cleanup stops
// the server, and a killed test binary may leave it running.
func childProcAttr() *syscall.SysProcAttr { return nil }
