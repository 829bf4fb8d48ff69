package soak

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Mem is one process's memory as /proc/<pid>/status reports it, in KiB.
type Mem struct {
	RSS int64 // VmRSS: resident now
	HWM int64 // VmHWM: the peak resident so far
}

// ParseStatus reads VmRSS and VmHWM from the text of /proc/<pid>/status.
func ParseStatus(b []byte) (Mem, error) {
	var m Mem
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("status: %s: unexpected value %q", k, v)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("status: %s: %w", k, err)
		}
		if k == "VmRSS" {
			m.RSS = n
		} else {
			m.HWM = n
		}
		found++
	}
	if found != 2 {
		return m, fmt.Errorf("status: VmRSS or VmHWM missing (a kernel thread or an exited process?)")
	}
	return m, nil
}

// Point is one sample of a series: elapsed time and a value.
type Point struct {
	T time.Duration
	V float64
}

// Slope returns the least-squares slope of ps in value units per hour, and
// false when it is undefined (fewer than two distinct times).
func Slope(ps []Point) (float64, bool) {
	if len(ps) < 2 {
		return 0, false
	}
	var st, sv float64
	for _, p := range ps {
		st += p.T.Hours()
		sv += p.V
	}
	n := float64(len(ps))
	mt, mv := st/n, sv/n
	var num, den float64
	for _, p := range ps {
		dt := p.T.Hours() - mt
		num += dt * (p.V - mv)
		den += dt * dt
	}
	if den == 0 {
		return 0, false
	}
	return num / den, true
}

// Summary is what the soak reports for one process's RSS series (KiB).
type Summary struct {
	At5Min     float64 // first sample at or after 5 minutes (the last one if the run was shorter)
	End        float64 // last sample
	Max        float64
	MeanHalf   float64 // mean over the second half of the run
	SlopeHalf  float64 // KiB per hour, least squares over the second half
	SlopeValid bool
}

// SlopeRatio is the second half's slope per hour as a fraction of its mean.
func (s Summary) SlopeRatio() float64 {
	if s.MeanHalf == 0 {
		return 0
	}
	return s.SlopeHalf / s.MeanHalf
}

// Summarize describes ps, sampled over a run of length total, ordered by time.
func Summarize(ps []Point, total time.Duration) Summary {
	var s Summary
	if len(ps) == 0 {
		return s
	}
	s.End = ps[len(ps)-1].V
	s.At5Min = s.End
	for _, p := range ps {
		if p.T >= 5*time.Minute {
			s.At5Min = p.V
			break
		}
	}
	var half []Point
	for _, p := range ps {
		s.Max = max(s.Max, p.V)
		if p.T >= total/2 {
			half = append(half, p)
		}
	}
	if len(half) > 0 {
		var sum float64
		for _, p := range half {
			sum += p.V
		}
		s.MeanHalf = sum / float64(len(half))
	}
	s.SlopeHalf, s.SlopeValid = Slope(half)
	return s
}
