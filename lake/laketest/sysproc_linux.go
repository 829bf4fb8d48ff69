package laketest

import (
	"os/exec"
	"syscall"
)

// watchdog starts a small process that removes the container if the test
// binary dies without running its cleanups (a -timeout panic, a kill): the
// kernel sends it SIGTERM when its parent dies (strictly, when the thread
// that started it exits; Go keeps its threads). The returned func ends it
// quietly, for a normal cleanup, which removes the container itself.
func watchdog(docker, container string) (stop func()) {
	cmd := exec.Command("/bin/sh", "-c",
		`trap 'kill $! 2>/dev/null; exec "$0" rm --force --volumes "$1" >/dev/null 2>&1' TERM
while :; do sleep 3600 & wait $!; done`, docker, container)
	// Its own process group: a Ctrl-C on the terminal is not for it, and
	// stop kills it together with its sleep.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return func() {} // t.Cleanup still removes the container
	}
	return func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}
}
