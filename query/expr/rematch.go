package expr

import (
	"regexp/syntax"
	"strings"
)

// fastMatcher returns a matcher equivalent to regexp.MatchString for the
// patterns whose search needs no automaton, or nil for any other: a
// literal (substring search), and a character class of ASCII characters
// (a byte-set scan: in UTF-8 the bytes of a multi-byte character are all
// >= 0x80, so an ASCII set never matches inside one). The decision is
// made from the pattern's parse tree, once per query.
func fastMatcher(pattern string) func(string) bool {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	re = re.Simplify()
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil
		}
		lit := string(re.Rune)
		return func(s string) bool { return strings.Contains(s, lit) }
	case syntax.OpCharClass:
		set := asciiClass(re)
		if set == nil {
			return nil
		}
		return func(s string) bool { return set.any(s) }
	}
	return nil
}

// byteSet is a set of ASCII bytes.
type byteSet [256]bool

// any reports whether s holds a byte of the set: in UTF-8 the bytes of a
// multi-byte character are all >= 0x80, so an ASCII set never matches
// inside one.
func (set *byteSet) any(s string) bool {
	for i := 0; i < len(s); i++ {
		if set[s[i]] {
			return true
		}
	}
	return false
}

// asciiClass returns the set of a character class of ASCII characters, or
// nil for a class with others.
func asciiClass(re *syntax.Regexp) *byteSet {
	var set byteSet
	for i := 0; i+1 < len(re.Rune); i += 2 {
		lo, hi := re.Rune[i], re.Rune[i+1]
		if lo < 0 || hi > 0x7f {
			return nil
		}
		for r := lo; r <= hi; r++ {
			set[r] = true
		}
	}
	return &set
}

// classPattern returns the byte set of a pattern that is one character
// class of ASCII characters, or nil.
func classPattern(pattern string) *byteSet {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	if re = re.Simplify(); re.Op != syntax.OpCharClass {
		return nil
	}
	return asciiClass(re)
}
