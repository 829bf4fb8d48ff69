package expr

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// The fast matchers answer exactly as regexp.MatchString does, on ASCII,
// control characters and multi-byte UTF-8, and exist for the shapes they
// cover only.
func TestFastMatcherAgreesWithRegexp(t *testing.T) {
	patterns := []string{`[\x00-\x1f\x7f]`, `abc`, `[a-c]`, `[^a-c]`, `(?i)abc`, `a.c`, `^ab`, `[ñ]`, `\d`, `x`}
	alphabet := []string{"a", "b", "c", "x", "1", "\x00", "\x1f", "\x7f", " ", "ñ", "日", "\t", "A"}
	r := rand.New(rand.NewPCG(1, 2))
	for _, p := range patterns {
		re := regexp.MustCompile(p)
		fast := fastMatcher(p)
		for range 2000 {
			var s string
			for range r.IntN(6) {
				s += alphabet[r.IntN(len(alphabet))]
			}
			if fast != nil && fast(s) != re.MatchString(s) {
				t.Fatalf("pattern %q on %q: fast says %v, regexp %v", p, s, fast(s), re.MatchString(s))
			}
		}
	}
	for p, want := range map[string]bool{`[\x00-\x1f\x7f]`: true, `abc`: true, `[a-c]`: true, `x`: true,
		`[^a-c]`: false, `(?i)abc`: false, `a.c`: false, `[ñ]`: true} {
		if got := fastMatcher(p) != nil; got != want {
			t.Errorf("pattern %q: fast matcher exists = %v, want %v", p, got, want)
		}
	}
}
