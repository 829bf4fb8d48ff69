package agg

import (
	"math"
	"math/rand/v2"
	"testing"
)

// estimateByDefinition is HyperLogLog++'s estimate as Spark computes it
// (HyperLogLogPlusPlusHelper.query, without the bias correction): both sums
// over every register, then linear counting when it is under the
// threshold.
func estimateByDefinition(h hll) int64 {
	const m = float64(hllM)
	alphaM2 := 0.7213 / (1 + 1.079/m) * m * m
	var zInv, v float64
	for _, r := range h {
		zInv += math.Pow(2, -float64(r))
		if r == 0 {
			v++
		}
	}
	if v > 0 {
		if lc := m * math.Log(m/v); lc <= hllThreshold {
			return int64(math.Round(lc))
		}
	}
	return int64(math.Round(alphaM2 / zInv))
}

// The estimate that counts empty registers first is the definition's, for
// sketches of one value to every register set, around the threshold where
// linear counting gives way.
func TestHLLEstimateIsTheDefinitions(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for filled := 0; filled <= hllM; filled++ {
		for range 4 {
			h := make(hll, hllM)
			for _, j := range rng.Perm(hllM)[:filled] {
				h[j] = byte(1 + rng.IntN(12))
			}
			if got, want := h.estimate(), estimateByDefinition(h); got != want {
				t.Fatalf("%d registers set: estimate %d, by definition %d", filled, got, want)
			}
			if z := h.zeros(); z != hllM-filled {
				t.Fatalf("%d registers set: %d zeros counted", filled, z)
			}
		}
	}
	// Values added one by one: the estimate follows them.
	h := make(hll, hllM)
	for i := range 100_000 {
		h.add(rng.Uint64())
		if i%97 == 0 {
			if got, want := h.estimate(), estimateByDefinition(h); got != want {
				t.Fatalf("after %d values: estimate %d, by definition %d", i+1, got, want)
			}
		}
	}
}
