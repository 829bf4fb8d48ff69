// Package harness holds what sensorlab's benchmark commands share: finding
// the repository and building its binaries once, running a process while
// recording its wall time, CPU time and peak RSS, describing the machine, and
// summarising repeated measurements by their median (the machine is shared
// and noisy: a median of several runs is the figure to quote).
package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RepoRoot walks up from the working directory to the directory holding
// go.work: the sensorlab checkout.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("repo root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repo root: no go.work above the working directory; run from the sensorlab checkout")
		}
		dir = parent
	}
}

// Build builds the main package pkg (e.g. "./services/streamer/cmd/streamer")
// of the checkout at root into dir and returns the binary's path.
func Build(ctx context.Context, root, pkg, dir string) (string, error) {
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// Run is one finished process.
type Run struct {
	Wall time.Duration
	CPU  time.Duration // user + system
	// PeakRSS is the process's peak resident set, bytes: the greatest
	// VmHWM of /proc/<pid>/status sampled every rssEvery while it runs
	// (growth in its last rssEvery is missed). The kernel's rusage maxrss
	// is no substitute: Go starts a child with vfork, and at exec the
	// kernel folds the parent's mm into the child's maxrss, so a child of
	// a big harness would report at least the harness's peak. Zero where
	// there is no /proc.
	PeakRSS int64
	Stdout  []byte
	Stderr  []byte
}

// Exec runs bin with args to completion. onStderrLine, when set, sees each
// line of stderr as it comes (for JSON logs); stdout and stderr are also
// kept whole in the result.
func Exec(ctx context.Context, bin string, args []string, onStderrLine func([]byte)) (Run, error) {
	return ExecEnv(ctx, bin, args, nil, onStderrLine)
}

// ExecEnv is Exec with env (KEY=value) added to the process's environment:
// how the services get their S3 settings, which they read only from the
// environment.
func ExecEnv(ctx context.Context, bin string, args, env []string, onStderrLine func([]byte)) (Run, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			stderr.Write(sc.Bytes())
			stderr.WriteByte('\n')
			if onStderrLine != nil {
				onStderrLine(sc.Bytes())
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	start := time.Now()
	var peak int64
	err := cmd.Start()
	if err == nil {
		stop, sampled := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(sampled)
			status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
			t := time.NewTicker(rssEvery)
			defer t.Stop()
			for {
				if hwm, ok := vmHWM(status); ok {
					peak = max(peak, hwm)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
		err = cmd.Wait()
		close(stop)
		<-sampled
	}
	wall := time.Since(start)
	pw.Close()
	<-done
	r := Run{Wall: wall, PeakRSS: peak, Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if ps := cmd.ProcessState; ps != nil {
		r.CPU = ps.UserTime() + ps.SystemTime()
	}
	if err != nil {
		return r, fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, tail(stderr.Bytes(), 2000))
	}
	return r, nil
}

// rssEvery is how often ExecEnv samples a process's VmHWM.
const rssEvery = 20 * time.Millisecond

// vmHWM reads VmHWM (bytes) from a /proc/<pid>/status file; false when
// the file or the line is missing (no /proc, or the process has exited).
func vmHWM(status string) (int64, bool) {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err == nil
		}
	}
	return 0, false
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// Machine describes where the figures were measured.
type Machine struct {
	CPUs     int
	CPUModel string
	Load1    string // the 1-minute load average when the run started
	GoVer    string
}

// DescribeMachine reads /proc (Linux) for the CPU model and load.
func DescribeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), CPUModel: "unknown", Load1: "unknown", GoVer: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			m.Load1 = f[0]
		}
	}
	return m
}

func (m Machine) String() string {
	return fmt.Sprintf("%d CPUs, %s, load %s at start, %s", m.CPUs, m.CPUModel, m.Load1, m.GoVer)
}

// Median returns the median of xs (the mean of the middle two for an even
// count), 0 for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Quantile returns the q-quantile (0..1) of xs by the nearest-rank method,
// 0 for none.
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// PerSec is n per d, 0 for a zero duration.
func PerSec(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
