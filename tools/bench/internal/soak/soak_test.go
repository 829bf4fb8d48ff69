package soak

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

const status = `Name:	streamer
VmPeak:	 1300000 kB
VmHWM:	   41472 kB
VmRSS:	   35020 kB
Threads:	9
`

func TestParseStatusReadsRSSAndPeak(t *testing.T) {
	m, err := ParseStatus([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS != 35020 || m.HWM != 41472 {
		t.Fatalf("got RSS %d HWM %d KiB, want 35020 and 41472", m.RSS, m.HWM)
	}
}

func TestParseStatusRejectsAProcessWithoutMemory(t *testing.T) {
	// A kernel thread's status has no Vm lines: a zero would read as "flat".
	if _, err := ParseStatus([]byte("Name:\tkthreadd\nThreads:\t1\n")); err == nil {
		t.Fatal("no error for a status without VmRSS/VmHWM")
	}
	if _, err := ParseStatus([]byte("VmHWM:\t1 MB\nVmRSS:\t1 kB\n")); err == nil {
		t.Fatal("no error for a unit other than kB")
	}
}

func series(n int, step time.Duration, f func(h float64) float64) []Point {
	ps := make([]Point, n)
	for i := range ps {
		t := time.Duration(i) * step
		ps[i] = Point{t, f(t.Hours())}
	}
	return ps
}

func TestSlopeIsPerHour(t *testing.T) {
	// 30 minutes of 10 s samples growing 6000 KiB per hour (15 % of 40 MiB),
	// with a sawtooth of +-1 MiB (the GC's) on top.
	ps := series(180, 10*time.Second, func(h float64) float64 { return 40000 + 6000*h })
	for i := range ps {
		if i%2 == 0 {
			ps[i].V += 1024
		} else {
			ps[i].V -= 1024
		}
	}
	got, ok := Slope(ps)
	if !ok || math.Abs(got-6000) > 600 {
		t.Fatalf("slope %v (ok %v), want 6000 KiB/h within 10 %%", got, ok)
	}
	if _, ok := Slope(ps[:1]); ok {
		t.Fatal("a single sample has no slope")
	}
}

func TestSummarizeUsesSecondHalf(t *testing.T) {
	// Warm-up growth in the first half, flat after: the verdict must not
	// count the warm-up.
	total := time.Hour
	ps := series(361, 10*time.Second, func(h float64) float64 {
		if h < 0.5 {
			return 20000 + 20000*h*2
		}
		return 40000
	})
	s := Summarize(ps, total)
	if s.SlopeHalf != 0 || !s.SlopeValid {
		t.Fatalf("second-half slope %v (valid %v), want 0", s.SlopeHalf, s.SlopeValid)
	}
	if s.Max != 40000 || s.End != 40000 || s.MeanHalf != 40000 {
		t.Fatalf("max %v end %v mean %v, want 40000 each", s.Max, s.End, s.MeanHalf)
	}
	want5 := 20000 + 20000*(5.0/60)*2
	if math.Abs(s.At5Min-want5) > 1 {
		t.Fatalf("RSS at 5 min %v, want %v", s.At5Min, want5)
	}
}

func samplesWith(rss func(h float64) int64) []sample {
	var out []sample
	for i := 0; i <= 360; i++ {
		t := time.Duration(i) * 10 * time.Second
		out = append(out, sample{t: t, streamer: Mem{RSS: rss(t.Hours())}, batchID: int64(i * 50), stateRows: 120})
	}
	return out
}

func TestReportVerdict(t *testing.T) {
	cfg := Config{Bound: 0.10}
	var out bytes.Buffer
	if err := report(cfg, samplesWith(func(float64) int64 { return 40000 }), &out); err != nil {
		t.Fatalf("flat RSS failed the soak: %v", err)
	}
	if !strings.Contains(out.String(), "verdict: flat") {
		t.Fatalf("no flat verdict in:\n%s", out.String())
	}
	// Growing 20 % of the mean per hour: a leak the soak exists to catch.
	err := report(cfg, samplesWith(func(h float64) int64 { return int64(40000 + 8000*h) }), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "NOT flat") {
		t.Fatalf("leak passed the soak: %v", err)
	}
	// A stalled streamer says nothing about memory.
	stalled := samplesWith(func(float64) int64 { return 40000 })
	for i := range stalled {
		stalled[i].batchID = 7
	}
	if err := report(cfg, stalled, &bytes.Buffer{}); err == nil {
		t.Fatal("a streamer that committed nothing in the second half passed")
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := parse([]string{"-duration", "0s", "-rate", "0", "-bound", "0"}, &bytes.Buffer{})
	if err == nil {
		t.Fatal("bad flags accepted")
	}
	for _, want := range []string{"-duration", "-rate", "-bound"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	c, err := parse(nil, &bytes.Buffer{})
	if err != nil || c.Duration != time.Hour || c.Rate != 5 || c.Interval != 10*time.Second {
		t.Fatalf("defaults %+v, %v; want 1h at rate 5 sampled every 10s", c, err)
	}
}
