package sql

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokKind is the class of a token.
type tokKind uint8

const (
	tEOF    tokKind = iota
	tWord           // an unquoted word: a keyword or an identifier
	tQuoted         // a `backquoted` identifier; text is unescaped
	tString         // a '…' or "…" literal; text is unescaped
	tNumber         // a numeric literal; text is the lexeme without its suffix
	tOp             // punctuation or an operator; text is the operator
)

// token is one lexeme. Words, numbers and strings without escapes keep a
// substring of the source as their text, so lexing allocates only the token
// slice and the few strings that hold escapes.
type token struct {
	kind tokKind
	lit  LiteralKind // for tNumber: LitInteger, LitDecimal or LitFloat
	pos  Pos
	off  int // byte offset of the first byte
	end  int // byte offset after the last byte
	text string
}

// lexer splits a query text into tokens. It tracks the start of the
// current line so that every token gets its 1-based line and byte column.
type lexer struct {
	src       string
	off       int
	line      int
	lineStart int
}

// lex returns every token of src, ending with a tEOF token, or the first
// lexical error.
func lex(src string) ([]token, error) {
	l := &lexer{src: src, line: 1}
	toks := make([]token, 0, len(src)/4+1)
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
		if t.kind == tEOF {
			return toks, nil
		}
	}
}

func (l *lexer) pos() Pos { return Pos{Line: l.line, Col: l.off - l.lineStart + 1} }

// advance moves over src[l.off:to], counting the newlines it crosses.
func (l *lexer) advance(to int) {
	for i := l.off; i < to; i++ {
		if l.src[i] == '\n' {
			l.line++
			l.lineStart = i + 1
		}
	}
	l.off = to
}

// isWordStart reports whether the ASCII byte c can start a word.
func isWordStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// letterAt returns the length of the non-ASCII letter or digit at
// src[i:], or 0 when there is none: names may be written in any script.
func (l *lexer) letterAt(i int) int {
	r, n := utf8.DecodeRuneInString(l.src[i:])
	if r == utf8.RuneError || !unicode.IsLetter(r) && !unicode.IsDigit(r) {
		return 0
	}
	return n
}

func isWordByte(c byte) bool { return isWordStart(c) || isDigit(c) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// skipSpace skips white space and comments.
func (l *lexer) skipSpace() error {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			l.off++
		case c == '\n':
			l.off++
			l.line++
			l.lineStart = l.off
		case c == '-' && l.off+1 < len(l.src) && l.src[l.off+1] == '-':
			end := strings.IndexByte(l.src[l.off:], '\n')
			if end < 0 {
				l.off = len(l.src)
			} else {
				l.off += end // the newline is counted by the next iteration
			}
		case c == '/' && l.off+1 < len(l.src) && l.src[l.off+1] == '*':
			// Bracketed comments nest, as in Spark SQL.
			start := l.pos()
			depth := 0
			i := l.off
			for {
				if i+1 >= len(l.src) {
					return Errorf(start, "unterminated comment: '/*' has no matching '*/'")
				}
				if l.src[i] == '/' && l.src[i+1] == '*' {
					depth++
					i += 2
				} else if l.src[i] == '*' && l.src[i+1] == '/' {
					depth--
					i += 2
					if depth == 0 {
						break
					}
				} else {
					i++
				}
			}
			l.advance(i)
		default:
			return nil
		}
	}
	return nil
}

// multiCharOps are the operators of two or three bytes, longest first.
var multiCharOps = [...]string{"<=>", "<>", "<=", ">=", "!=", "==", "||", "::"}

func (l *lexer) next() (token, error) {
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	start := l.off
	p := l.pos()
	if start >= len(l.src) {
		return token{kind: tEOF, pos: p, off: start, end: start}, nil
	}
	c := l.src[start]
	switch {
	case (c == 'r' || c == 'R') && start+1 < len(l.src) && (l.src[start+1] == '\'' || l.src[start+1] == '"'):
		return l.rawString(p)
	case isWordStart(c) || c >= utf8.RuneSelf && l.letterAt(start) > 0:
		i := start
		for i < len(l.src) {
			if c := l.src[i]; c < utf8.RuneSelf {
				if !isWordByte(c) {
					break
				}
				i++
			} else if n := l.letterAt(i); n > 0 {
				i += n
			} else {
				break
			}
		}
		l.off = i
		return token{kind: tWord, pos: p, off: start, end: i, text: l.src[start:i]}, nil
	case isDigit(c) || c == '.' && start+1 < len(l.src) && isDigit(l.src[start+1]):
		return l.number(p)
	case c == '\'' || c == '"':
		return l.quotedString(p)
	case c == '`':
		return l.backquoted(p)
	}
	for _, op := range multiCharOps {
		if strings.HasPrefix(l.src[start:], op) {
			l.off += len(op)
			return token{kind: tOp, pos: p, off: start, end: l.off, text: op}, nil
		}
	}
	switch c {
	case '(', ')', ',', '.', ';', '*', '+', '-', '/', '%', '=', '<', '>', '[', ']', '&', '|', '^', '~', ':', '?', '{', '}', '!':
		l.off++
		return token{kind: tOp, pos: p, off: start, end: l.off, text: l.src[start:l.off]}, nil
	}
	r, _ := utf8.DecodeRuneInString(l.src[start:])
	return token{}, Errorf(p, "unexpected character %q", r)
}

// number lexes Spark's numeric literals: 42, 42L (also S and Y), 1.5, .5,
// 1e3, 1.5D, 1.5F, 1.5BD. Suffixes are case-insensitive.
func (l *lexer) number(p Pos) (token, error) {
	s := l.src
	start := l.off
	i := start
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	kind := LitInteger
	if i < len(s) && s[i] == '.' {
		kind = LitDecimal
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && isDigit(s[j]) {
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			kind = LitFloat
			i = j
		}
	}
	textEnd := i
	// Suffixes.
	if i < len(s) {
		switch s[i] {
		case 'L', 'l', 'S', 's', 'Y', 'y':
			if kind == LitInteger {
				i++
			}
		case 'D', 'd', 'F', 'f':
			kind = LitFloat
			i++
		case 'B', 'b':
			if i+1 < len(s) && (s[i+1] == 'D' || s[i+1] == 'd') {
				kind = LitDecimal
				i += 2
			}
		}
	}
	if i < len(s) && isWordByte(s[i]) {
		j := i
		for j < len(s) && isWordByte(s[j]) {
			j++
		}
		return token{}, Errorf(p, "invalid number '%s'", s[start:j])
	}
	l.off = i
	return token{kind: tNumber, lit: kind, pos: p, off: start, end: i, text: s[start:textEnd]}, nil
}

// quotedString lexes '…' or "…" with Spark's backslash escapes.
func (l *lexer) quotedString(p Pos) (token, error) {
	s := l.src
	start := l.off
	q := s[start]
	i := start + 1
	escaped := false
	for {
		if i >= len(s) {
			return token{}, Errorf(p, "unterminated string literal")
		}
		c := s[i]
		if c == q {
			break
		}
		if c == '\\' {
			escaped = true
			i += 2
			continue
		}
		i++
	}
	end := i + 1
	text := s[start+1 : i]
	if escaped {
		text = unescape(text)
	}
	l.advance(end)
	return token{kind: tString, pos: p, off: start, end: end, text: text}, nil
}

// rawString lexes r'…' or R"…": no escapes.
func (l *lexer) rawString(p Pos) (token, error) {
	s := l.src
	start := l.off
	q := s[start+1]
	j := strings.IndexByte(s[start+2:], q)
	if j < 0 {
		return token{}, Errorf(p, "unterminated string literal")
	}
	end := start + 2 + j + 1
	text := s[start+2 : end-1]
	l.advance(end)
	return token{kind: tString, pos: p, off: start, end: end, text: text}, nil
}

// backquoted lexes a backquoted name, where a doubled backquote stands for one.
func (l *lexer) backquoted(p Pos) (token, error) {
	s := l.src
	start := l.off
	i := start + 1
	doubled := false
	for {
		if i >= len(s) {
			return token{}, Errorf(p, "unterminated quoted identifier: '`' has no matching '`'")
		}
		if s[i] == '`' {
			if i+1 < len(s) && s[i+1] == '`' {
				doubled = true
				i += 2
				continue
			}
			break
		}
		i++
	}
	end := i + 1
	text := s[start+1 : i]
	if doubled {
		text = strings.ReplaceAll(text, "``", "`")
	}
	if text == "" {
		return token{}, Errorf(p, "empty quoted identifier ``")
	}
	l.advance(end)
	return token{kind: tQuoted, pos: p, off: start, end: end, text: text}, nil
}

// unescape applies Spark SQL's string escapes (unescapeSQLString): \0 \b
// \n \r \t \Z \\ \' \", \uXXXX, \UXXXXXXXX and \NNN (octal); \% and \_
// stay as written (they matter to LIKE); any other \c is c.
func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		c = s[i]
		switch c {
		case '0':
			if i+2 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) {
				b.WriteByte((c-'0')<<6 | (s[i+1]-'0')<<3 | (s[i+2] - '0'))
				i += 2
			} else {
				b.WriteByte(0)
			}
		case '1', '2', '3':
			if i+2 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) {
				b.WriteByte((c-'0')<<6 | (s[i+1]-'0')<<3 | (s[i+2] - '0'))
				i += 2
			} else {
				b.WriteByte(c)
			}
		case 'b':
			b.WriteByte('\b')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'Z':
			b.WriteByte(0x1A)
		case '%', '_':
			b.WriteByte('\\')
			b.WriteByte(c)
		case 'u', 'U':
			n := 4
			if c == 'U' {
				n = 8
			}
			if r, ok := hexRune(s, i+1, n); ok {
				b.WriteRune(r)
				i += n
			} else {
				b.WriteByte(c)
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

func hexRune(s string, at, n int) (rune, bool) {
	if at+n > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[at : at+n]) {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	if r > utf8.MaxRune {
		return 0, false
	}
	return r, true
}

// describeTok renders a token for an error message: 'FROM', '(', end of input.
func describeTok(src string, t token) string {
	if t.kind == tEOF {
		return "end of input"
	}
	s := src[t.off:t.end]
	if len(s) > 40 {
		cut := 37
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	if t.kind == tString {
		return fmt.Sprintf("string %s", s)
	}
	return "'" + s + "'"
}
