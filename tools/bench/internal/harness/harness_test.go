package harness

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMedianAndQuantile(t *testing.T) {
	for _, c := range []struct {
		xs        []float64
		med, p99  float64
		p50, pmax float64
	}{
		{nil, 0, 0, 0, 0},
		{[]float64{3}, 3, 3, 3, 3},
		{[]float64{5, 1, 3}, 3, 5, 3, 5},
		{[]float64{4, 1, 3, 2}, 2.5, 4, 2, 4},
	} {
		if got := Median(c.xs); got != c.med {
			t.Errorf("Median(%v) = %v, want %v", c.xs, got, c.med)
		}
		if got := Quantile(c.xs, 0.99); got != c.p99 {
			t.Errorf("Quantile(%v, .99) = %v, want %v", c.xs, got, c.p99)
		}
		if got := Quantile(c.xs, 0.5); got != c.p50 {
			t.Errorf("Quantile(%v, .5) = %v, want %v", c.xs, got, c.p50)
		}
		if got := Quantile(c.xs, 1); got != c.pmax {
			t.Errorf("Quantile(%v, 1) = %v, want %v", c.xs, got, c.pmax)
		}
	}
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = float64(100 - i) // 100..1
	}
	if p99 := Quantile(xs, 0.99); p99 != 99 {
		t.Errorf("p99 of 1..100 = %v, want 99", p99)
	}
}

func TestExecReportsOutputsAndPeakRSS(t *testing.T) {
	var lines []string
	r, err := Exec(context.Background(), "/bin/sh", []string{"-c", "echo out; echo one >&2; echo two >&2; sleep 0.1"}, func(l []byte) {
		lines = append(lines, string(l))
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Stdout) != "out\n" || strings.Join(lines, ",") != "one,two" || string(r.Stderr) != "one\ntwo\n" {
		t.Fatalf("stdout %q, stderr lines %q, stderr %q", r.Stdout, lines, r.Stderr)
	}
	if r.PeakRSS <= 0 || r.Wall <= 0 {
		t.Fatalf("peak RSS %d, wall %v: want both measured", r.PeakRSS, r.Wall)
	}
	if _, err := Exec(context.Background(), "/bin/sh", []string{"-c", "echo boom >&2; exit 3"}, nil); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("a failing process: %v, want an error with its stderr", err)
	}
}

func TestExecEnvAddsToTheEnvironment(t *testing.T) {
	t.Setenv("HARNESS_INHERITED", "kept")
	r, err := ExecEnv(context.Background(), "/bin/sh", []string{"-c", `echo "$HARNESS_INHERITED $HARNESS_ADDED"`},
		[]string{"HARNESS_ADDED=added"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(r.Stdout)); got != "kept added" {
		t.Fatalf("the process saw %q, want the inherited and the added variable (\"kept added\")", got)
	}
}

// The peak RSS is the child's own: neither the harness's (which a vfork'd
// child's rusage maxrss inherits) nor short of what the child held.
func TestExecPeakRSSIsTheChilds(t *testing.T) {
	if os.Getenv("HARNESS_HOLD_MIB") != "" {
		return // the child's side: TestMain holds the memory
	}
	ballast := make([]byte, 200<<20)
	for i := 0; i < len(ballast); i += 4096 {
		ballast[i] = 1 // resident, page by page
	}
	r, err := ExecEnv(context.Background(), os.Args[0], []string{"-test.run=^TestExecPeakRSSIsTheChilds$"}, []string{"HARNESS_HOLD_MIB=32"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.PeakRSS < 32<<20 || r.PeakRSS > 150<<20 {
		t.Fatalf("peak RSS %d MiB: want the child's 32 MiB and more, not the harness's %d MiB", r.PeakRSS>>20, len(ballast)>>20)
	}
	runtime.KeepAlive(ballast)
}

// TestMain is also the child of TestExecPeakRSSIsTheChilds: with
// HARNESS_HOLD_MIB set it holds that many MiB resident for 200 ms.
func TestMain(m *testing.M) {
	if mib, err := strconv.Atoi(os.Getenv("HARNESS_HOLD_MIB")); err == nil {
		b := make([]byte, mib<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		time.Sleep(200 * time.Millisecond)
		runtime.KeepAlive(b)
		os.Exit(0)
	}
	os.Exit(m.Run())
}
