//go:build !linux

package laketest

// watchdog has no parent-death signal to work with outside Linux: t.Cleanup
// removes the container, and a killed test binary may leave it running
// (`docker rm -f $(docker ps -aq --filter label=org.sensorlab.laketest)`).
func watchdog(docker, container string) (stop func()) { return func() {} }
