package expr

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

type strOp uint8

const (
	sLower strOp = iota
	sUpper
	sTrim
	sLTrim
	sRTrim
)

// strMap is a STRING -> STRING function of one argument.
type strMap struct {
	op   strOp
	x    Expr
	s    types.Vector
	work []uint8
}

func (e *strMap) Type() types.Type { return types.TString }

func (e *strMap) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	x := arg(e.x, b, &e.s)
	prepare(out, types.TString, n)
	in, o := x.Str[:n], out.Str
	switch e.op {
	case sLower, sUpper:
		e.work = changeCase(in, o, e.op == sUpper, e.work)
	case sTrim:
		for i, v := range in {
			o[i] = strings.Trim(v, " ")
		}
	case sLTrim:
		for i, v := range in {
			o[i] = strings.TrimLeft(v, " ")
		}
	case sRTrim:
		for i, v := range in {
			o[i] = strings.TrimRight(v, " ")
		}
	}
	unionNulls(out, n, x.Null)
	fixNulls(out)
}

// changeCase lowers or uppers every string. Strings already in the target
// case are kept as they are; ASCII strings are converted into one buffer
// allocated for the batch; others go through the strings package (Unicode
// case mapping, as Java's toLowerCase/toUpperCase in the root locale,
// which Spark uses). work is scratch space for one byte per row.
func changeCase(in, o []string, upper bool, work []uint8) []uint8 {
	cls := &lowerClass
	if upper {
		cls = &upperClass
	}
	work = grow(work, len(in))
	need := 0
	for i, v := range in {
		var w uint8
		for j := 0; j < len(v); j++ {
			w |= cls[v[j]]
		}
		work[i] = w
		if w == 1 {
			need += len(v)
		}
	}
	var buf []byte
	if need > 0 {
		buf = make([]byte, need)
	}
	for i, v := range in {
		switch work[i] {
		case 0:
			o[i] = v
		case 1:
			d := buf[:len(v):len(v)]
			buf = buf[len(v):]
			for j := 0; j < len(v); j++ {
				c := v[j]
				d[j] = c ^ cls[c]<<5 // flips 0x20: A <-> a
			}
			o[i] = unsafe.String(unsafe.SliceData(d), len(d))
		default:
			if upper {
				o[i] = strings.ToUpper(v)
			} else {
				o[i] = strings.ToLower(v)
			}
		}
	}
	return work
}

// lowerClass and upperClass say what a byte needs: 1 an ASCII case change
// (A-Z for lower, a-z for upper), 2 Unicode handling (bytes of multi-byte
// characters), 0 nothing.
var lowerClass, upperClass = func() (lo, up [256]uint8) {
	for c := 0x80; c < 256; c++ {
		lo[c], up[c] = 2, 2
	}
	for c := 'A'; c <= 'Z'; c++ {
		lo[c], up[c+0x20] = 1, 1
	}
	return lo, up
}()

// lengthExpr is length(s): characters (code points), as an INT; with
// bytes, octet_length(s): UTF-8 bytes.
type lengthExpr struct {
	x     Expr
	s     types.Vector
	bytes bool
}

func (e *lengthExpr) Type() types.Type { return types.TInt }
func (e *lengthExpr) Eval(b *types.Batch, out *types.Vector) {
	x := arg(e.x, b, &e.s)
	prepare(out, types.TInt, b.N)
	for i, v := range x.Str[:b.N] {
		if e.bytes {
			out.I64[i] = int64(len(v))
		} else {
			out.I64[i] = int64(utf8.RuneCountInString(v))
		}
	}
	unionNulls(out, b.N, x.Null)
	fixNulls(out)
}

// concatExpr is concat(…) and ||: NULL when any argument is NULL.
type concatExpr struct {
	xs []Expr
	s  []types.Vector
}

func (c *compiler) concat(e sql.Expr, args []Expr) (Expr, error) {
	for i := range args {
		args[i] = castTo(args[i], types.TString)
	}
	return fold(&concatExpr{xs: args, s: make([]types.Vector, len(args))}, args...), nil
}

func (e *concatExpr) Type() types.Type { return types.TString }
func (e *concatExpr) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	vs := make([]*types.Vector, len(e.xs))
	nulls := make([][]bool, len(e.xs))
	for i, x := range e.xs {
		vs[i] = arg(x, b, &e.s[i])
		nulls[i] = vs[i].Null
	}
	prepare(out, types.TString, n)
	unionNulls(out, n, nulls...)
	total := 0
	for _, v := range vs {
		for _, s := range v.Str[:n] {
			total += len(s)
		}
	}
	buf := make([]byte, 0, total)
	for i := range n {
		start := len(buf)
		for _, v := range vs {
			buf = append(buf, v.Str[i]...)
		}
		if len(buf) > start {
			out.Str[i] = unsafe.String(&buf[start], len(buf)-start)
		} else {
			out.Str[i] = ""
		}
	}
	fixNulls(out)
}

// substrExpr is substring(s, pos[, len]) with Spark's rules
// (UTF8String.substringSQL): 1-based; pos 0 is 1; a negative pos counts
// from the end; a negative or zero len gives ”.
type substrExpr struct {
	x, pos, ln Expr // ln nil: to the end
	s          [3]types.Vector
}

func (e *substrExpr) Type() types.Type { return types.TString }
func (e *substrExpr) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	x := arg(e.x, b, &e.s[0])
	pos := arg(e.pos, b, &e.s[1])
	var ln *types.Vector
	if e.ln != nil {
		ln = arg(e.ln, b, &e.s[2])
	}
	prepare(out, types.TString, n)
	for i, v := range x.Str[:n] {
		l := int64(1<<31 - 1)
		if ln != nil {
			l = ln.I64[i]
		}
		out.Str[i] = substringSQL(v, pos.I64[i], l)
	}
	if ln != nil {
		unionNulls(out, n, x.Null, pos.Null, ln.Null)
	} else {
		unionNulls(out, n, x.Null, pos.Null)
	}
	fixNulls(out)
}

func substringSQL(s string, pos, length int64) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	n := int64(len(s))
	if !ascii {
		n = int64(utf8.RuneCountInString(s))
	}
	var start int64
	switch {
	case pos > 0:
		start = pos - 1
	case pos < 0:
		start = n + pos
	}
	end := start + length
	start = max(start, 0)
	end = min(end, n)
	if start >= end {
		return ""
	}
	if ascii {
		return s[start:end]
	}
	// Walk to the code points' byte offsets.
	var bs, be int = len(s), len(s)
	k := int64(0)
	for off := range s {
		if k == start {
			bs = off
		}
		if k == end {
			be = off
			break
		}
		k++
	}
	return s[bs:be]
}

// likeExpr is x LIKE pattern, with Spark's escape character '\'.
type likeExpr struct {
	x, p Expr
	m    *likeMatcher // compiled constant pattern; nil when p varies
	last string       // the last varying pattern and its matcher
	lm   *likeMatcher
	s    [2]types.Vector
}

func newLike(e sql.Expr, x, p Expr) (Expr, error) {
	l := &likeExpr{x: x, p: p}
	if v, ok := Const(p); ok && v != nil {
		m, err := compileLike(v.(string))
		if err != nil {
			return nil, errAt(e, "[INVALID_FORMAT.ESC_IN_THE_MIDDLE] The format is invalid: %q. %v", v, err)
		}
		l.m = m
	}
	return l, nil
}

func (e *likeExpr) Type() types.Type { return types.TBoolean }
func (e *likeExpr) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	x := arg(e.x, b, &e.s[0])
	prepare(out, types.TBoolean, n)
	if e.m != nil {
		e.m.matchAll(x.Str[:n], out.Bool)
		unionNulls(out, n, x.Null)
		fixNulls(out)
		return
	}
	p := arg(e.p, b, &e.s[1])
	unionNulls(out, n, x.Null, p.Null)
	for i, v := range x.Str[:n] {
		if p.IsNull(i) {
			continue
		}
		if e.lm == nil || p.Str[i] != e.last {
			m, err := compileLike(p.Str[i])
			if err != nil {
				// Spark fails the query; this engine makes the row NULL
				// rather than stop the stream on one bad pattern.
				if out.Null == nil {
					newNulls(out, n)
				}
				out.Null[i] = true
				continue
			}
			e.last, e.lm = p.Str[i], m
		}
		out.Bool[i] = e.lm.match(v)
	}
	fixNulls(out)
}

type likeKind uint8

const (
	lkEqual likeKind = iota
	lkPrefix
	lkSuffix
	lkContains
	lkAny      // '%': every string
	lkLiterals // literal segments between %s
	lkGeneral  // with '_'
)

// likeMatcher is a compiled LIKE pattern: segments separated by '%'.
type likeMatcher struct {
	kind         likeKind
	segs         [][]likeRune
	lits         []string // the segments as text when no '_' occurs
	anchoredHead bool     // the pattern does not start with '%'
	anchoredTail bool     // the pattern does not end with '%'
}

type likeRune struct {
	r   rune
	any bool // '_'
}

func compileLike(p string) (*likeMatcher, error) {
	m := &likeMatcher{anchoredHead: true, anchoredTail: true}
	var seg []likeRune
	hasAny := false
	flush := func() {
		m.segs = append(m.segs, seg)
		seg = nil
	}
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRuneInString(p[i:])
		i += size
		switch r {
		case '\\':
			if i >= len(p) {
				return nil, fmt.Errorf("it is not allowed to end with the escape character")
			}
			r2, size2 := utf8.DecodeRuneInString(p[i:])
			if r2 != '%' && r2 != '_' && r2 != '\\' {
				return nil, fmt.Errorf("the escape character is not allowed to precede '%c'", r2)
			}
			i += size2
			seg = append(seg, likeRune{r: r2})
		case '%':
			if i == size {
				m.anchoredHead = false
			}
			if i == len(p) {
				m.anchoredTail = false
			}
			flush()
		case '_':
			hasAny = true
			seg = append(seg, likeRune{any: true})
		default:
			seg = append(seg, likeRune{r: r})
		}
	}
	flush()
	// Drop the empty segments a leading, trailing or doubled % leaves.
	var segs [][]likeRune
	for i, s := range m.segs {
		if len(s) > 0 || (i == 0 && m.anchoredHead) || (i == len(m.segs)-1 && m.anchoredTail) {
			segs = append(segs, s)
		}
	}
	m.segs = segs
	if !hasAny {
		for _, s := range m.segs {
			var b strings.Builder
			for _, r := range s {
				b.WriteRune(r.r)
			}
			m.lits = append(m.lits, b.String())
		}
	}
	switch {
	case hasAny:
		m.kind = lkGeneral
	case len(m.segs) == 0:
		m.kind = lkAny
	case len(m.segs) == 1 && m.anchoredHead && m.anchoredTail:
		m.kind = lkEqual
	case len(m.segs) == 1 && m.anchoredHead:
		m.kind = lkPrefix
	case len(m.segs) == 1 && m.anchoredTail:
		m.kind = lkSuffix
	case len(m.segs) == 1:
		m.kind = lkContains
	default:
		m.kind = lkLiterals
	}
	return m, nil
}

func (m *likeMatcher) matchAll(in []string, o []bool) {
	switch m.kind {
	case lkEqual:
		for i, v := range in {
			o[i] = v == m.lits[0]
		}
	case lkPrefix:
		for i, v := range in {
			o[i] = strings.HasPrefix(v, m.lits[0])
		}
	case lkSuffix:
		for i, v := range in {
			o[i] = strings.HasSuffix(v, m.lits[0])
		}
	case lkContains:
		for i, v := range in {
			o[i] = strings.Contains(v, m.lits[0])
		}
	case lkAny:
		for i := range in {
			o[i] = true
		}
	default:
		for i, v := range in {
			o[i] = m.match(v)
		}
	}
}

func (m *likeMatcher) match(s string) bool {
	switch m.kind {
	case lkEqual:
		return s == m.lits[0]
	case lkPrefix:
		return strings.HasPrefix(s, m.lits[0])
	case lkSuffix:
		return strings.HasSuffix(s, m.lits[0])
	case lkContains:
		return strings.Contains(s, m.lits[0])
	case lkAny:
		return true
	}
	segs := m.segs
	// Head: anchored at the start.
	if m.anchoredHead {
		n, ok := matchSegAt(segs[0], s)
		if !ok {
			return false
		}
		s = s[n:]
		segs = segs[1:]
		if len(segs) == 0 {
			return !m.anchoredTail || s == ""
		}
	}
	var tail []likeRune
	if m.anchoredTail {
		tail = segs[len(segs)-1]
		segs = segs[:len(segs)-1]
	}
	// Middle segments: leftmost match each (correct for % between them).
	for _, seg := range segs {
		found := false
		for off := 0; off <= len(s); {
			if n, ok := matchSegAt(seg, s[off:]); ok {
				s = s[off+n:]
				found = true
				break
			}
			if off == len(s) {
				break
			}
			_, size := utf8.DecodeRuneInString(s[off:])
			off += size
		}
		if !found {
			return false
		}
	}
	if tail == nil {
		return true
	}
	// Tail: anchored at the end, len(tail) code points.
	start := len(s)
	for k := 0; k < len(tail); k++ {
		if start == 0 {
			return false
		}
		_, size := utf8.DecodeLastRuneInString(s[:start])
		start -= size
	}
	n, ok := matchSegAt(tail, s[start:])
	return ok && start+n == len(s)
}

// matchSegAt matches seg at the start of s and returns the bytes it took.
func matchSegAt(seg []likeRune, s string) (int, bool) {
	i := 0
	for _, r := range seg {
		if i >= len(s) {
			return 0, false
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if !r.any && c != r.r {
			return 0, false
		}
		i += size
	}
	return i, true
}

// regexpExpr is regexp_like / rlike / regexp: true when the pattern
// matches anywhere in the string (Java's Matcher.find, as Spark uses).
// Patterns are Go's RE2 syntax, which agrees with Java's for the common
// constructs but has no backreferences or lookaround: such a constant
// pattern is refused at compile time, a varying one gives NULL.
type regexpExpr struct {
	x, p Expr
	re   *regexp.Regexp
	fast func(string) bool // re's search without an automaton, when one exists
	last string
	lre  *regexp.Regexp
	s    [2]types.Vector
}

func (e *regexpExpr) Type() types.Type { return types.TBoolean }
func (e *regexpExpr) Eval(b *types.Batch, out *types.Vector) {
	n := b.N
	x := arg(e.x, b, &e.s[0])
	prepare(out, types.TBoolean, n)
	if e.re != nil {
		match := e.fast
		if match == nil {
			match = e.re.MatchString
		}
		for i, v := range x.Str[:n] {
			out.Bool[i] = match(v)
		}
		unionNulls(out, n, x.Null)
		fixNulls(out)
		return
	}
	p := arg(e.p, b, &e.s[1])
	unionNulls(out, n, x.Null, p.Null)
	for i, v := range x.Str[:n] {
		if p.IsNull(i) {
			continue
		}
		if e.lre == nil || e.last != p.Str[i] {
			re, err := regexp.Compile(p.Str[i])
			if err != nil {
				if out.Null == nil {
					newNulls(out, n)
				}
				out.Null[i] = true
				continue
			}
			e.last, e.lre = p.Str[i], re
		}
		out.Bool[i] = e.lre.MatchString(v)
	}
	fixNulls(out)
}
