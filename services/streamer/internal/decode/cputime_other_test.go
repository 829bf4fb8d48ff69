//go:build !linux

package decode

import "time"

// threadCPU is only implemented on Linux; elsewhere benchmarks report
// wall-clock throughput alone.
func threadCPU() (time.Duration, bool) { return 0, false }
