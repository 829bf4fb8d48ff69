package querycheck

import (
	"math"
	"math/bits"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// sparkApproxCountDistinct is what Spark's approx_count_distinct(x) of
// STRING values gives at its default rsd 0.05 (HyperLogLogPlusPlus),
// written from Spark's algorithm with an XXH64 that is not the engine's:
// p = ceil(2·log2(1.106/0.05)) = 9, so 512 registers; each value is hashed
// with XxHash64, seed 42, over its UTF-8 bytes; the top p bits pick the
// register, which keeps the largest count of leading zeros + 1 of the
// remaining bits ((x << p) | 1 << (p-1)); the estimate is linear counting,
// m·ln(m/V) with V the empty registers, while it is at most Spark's
// threshold for p = 9 (400), rounded to the nearest integer. ok is false
// above the threshold, where Spark corrects the raw estimate for bias (a
// range the generated sessions do not reach).
func sparkApproxCountDistinct(values []string) (estimate int64, ok bool) {
	const p = 9
	const m = 1 << p
	var reg [m]int
	for _, v := range values {
		d := xxhash.NewWithSeed(42)
		d.WriteString(v)
		x := d.Sum64()
		idx := x >> (64 - p)
		pw := bits.LeadingZeros64(x<<p|1<<(p-1)) + 1
		reg[idx] = max(reg[idx], pw)
	}
	empty := 0
	for _, r := range reg {
		if r == 0 {
			empty++
		}
	}
	if empty == 0 {
		return 0, false
	}
	h := m * math.Log(float64(m)/float64(empty))
	if h > 400 {
		return 0, false
	}
	return int64(math.Round(h)), true
}

// TestSparkApproxCountDistinctModel checks the model against values it
// must give: nothing is 0, one value 1, and a few hundred distinct values
// within a few per cent (the sketch's standard error is 1.04/√512 ≈ 4.6%).
func TestSparkApproxCountDistinctModel(t *testing.T) {
	if e, ok := sparkApproxCountDistinct(nil); !ok || e != 0 {
		t.Errorf("no values: %d, %v; want 0", e, ok)
	}
	if e, ok := sparkApproxCountDistinct([]string{"/cart", "/cart"}); !ok || e != 1 {
		t.Errorf("one value twice: %d, %v; want 1", e, ok)
	}
	var vs []string
	for i := range 250 {
		vs = append(vs, "/product/"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	if e, ok := sparkApproxCountDistinct(vs); !ok || math.Abs(float64(e-250)) > 0.1*250 {
		t.Errorf("250 values: %d, %v", e, ok)
	}
}
