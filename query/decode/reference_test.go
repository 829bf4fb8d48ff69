package decode

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sensorlab/sensorlab/query/types"
)

// refDecode is the slow reference decoder: encoding/json, math/big,
// regexp and time, applying the package doc's rules with none of the
// package's own parsers. It returns the row (nil for a null) or the
// rejection's reason and field.
func refDecode(f Format, cols []Column, maxBytes int, r *Record) (row []any, reason, field string) {
	for _, c := range cols {
		if strings.EqualFold(c.Metadata, "key") && c.NotNull && r.Key == nil {
			return nil, ReasonMissingField, "key"
		}
	}
	v := r.Value
	if len(v) > maxBytes {
		return nil, ReasonTooLarge, ""
	}
	var obj map[string]any
	if f == JSON {
		if len(v) == 0 {
			return nil, ReasonEmpty, ""
		}
		if !utf8.Valid(v) {
			return nil, ReasonInvalidUTF8, ""
		}
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.UseNumber()
		var raw any
		if err := dec.Decode(&raw); err != nil {
			return nil, ReasonMalformedJSON, ""
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return nil, ReasonMalformedJSON, ""
		}
		var ok bool
		if obj, ok = raw.(map[string]any); !ok {
			return nil, ReasonNotObject, ""
		}
	} else if !utf8.Valid(v) {
		return nil, ReasonInvalidUTF8, ""
	}
	row = make([]any, len(cols))
	for k, c := range cols {
		if c.Metadata != "" {
			switch strings.ToLower(c.Metadata) {
			case "key":
				if r.Key != nil {
					row[k] = string(r.Key)
				}
			case "topic":
				row[k] = r.Topic
			case "partition":
				row[k] = int64(r.Partition)
			case "offset":
				row[k] = r.Offset
			case "timestamp":
				row[k] = r.TimestampMs * 1000
			case "timestamptype":
				row[k] = int64(r.TimestampType)
			}
			continue
		}
		if f == Text {
			row[k] = string(v)
			continue
		}
		x, present := obj[c.Name]
		if !present || x == nil {
			if c.NotNull {
				return nil, ReasonMissingField, c.Name
			}
			continue
		}
		val, ok := refConvert(c.Type, x)
		if !ok {
			// An integer the column cannot hold is out of range; any
			// other value it cannot hold is of the wrong type.
			if n, isNum := x.(json.Number); isNum && (c.Type.Kind == types.Int || c.Type.Kind == types.Bigint) &&
				integerLit.MatchString(string(n)) {
				return nil, ReasonOutOfRange, c.Name
			}
			return nil, ReasonWrongType, c.Name
		}
		row[k] = val
	}
	return row, "", ""
}

var (
	integerLit = regexp.MustCompile(`^-?[0-9]+$`)
	decimalLit = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
	tsLit      = regexp.MustCompile(`^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:[T ]([0-9]{1,2}):([0-9]{1,2})(?::([0-9]{1,2})(?:\.([0-9]{1,9}))?)?)?(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?$`)
)

func refConvert(t types.Type, x any) (any, bool) {
	switch t.Kind {
	case types.String:
		s, ok := x.(string)
		return s, ok
	case types.Boolean:
		b, ok := x.(bool)
		return b, ok
	case types.Int, types.Bigint:
		n, ok := x.(json.Number)
		if !ok || !integerLit.MatchString(string(n)) {
			return nil, false
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || (t.Kind == types.Int && (i < math.MinInt32 || i > math.MaxInt32)) {
			return nil, false
		}
		return i, true
	case types.Double:
		n, ok := x.(json.Number)
		if !ok {
			return nil, false
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, false
		}
		return f, true
	case types.Decimal:
		var s string
		switch x := x.(type) {
		case json.Number:
			s = string(x)
		case string:
			s = strings.ReplaceAll(x, ",", "")
		default:
			return nil, false
		}
		return refDecimal(s, int(t.Precision), int(t.Scale))
	case types.Timestamp:
		switch x := x.(type) {
		case json.Number:
			if !integerLit.MatchString(string(x)) {
				return nil, false
			}
			secs, err := strconv.ParseInt(string(x), 10, 64)
			if err != nil {
				return nil, false
			}
			m := new(big.Int).Mul(big.NewInt(secs), big.NewInt(1e6))
			if !m.IsInt64() {
				return nil, false
			}
			return m.Int64(), true
		case string:
			return refTimestamp(x)
		}
	}
	return nil, false
}

// refDecimal rounds the literal s HALF_UP to scale digits with big.Rat.
func refDecimal(s string, prec, scale int) (any, bool) {
	if !decimalLit.MatchString(s) {
		return nil, false
	}
	mant, exp, _ := strings.Cut(strings.ToLower(s), "e")
	if exp != "" {
		e, err := strconv.Atoi(exp)
		if err != nil || e > 100000 || e < -100000 { // beyond: 0 or too large, decided by the digits
			nonzero := strings.ContainsAny(mant, "123456789")
			if !nonzero || strings.HasPrefix(exp, "-") {
				return int64(0), true
			}
			return nil, false
		}
	}
	if strings.HasSuffix(mant, ".") {
		s = strings.Replace(s, ".", "", 1) // big.Rat does not take "5." but takes "5"
	}
	r, ok := new(big.Rat).SetString(strings.TrimPrefix(s, "+"))
	if !ok {
		return nil, false
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
	neg := r.Sign() < 0
	r.Abs(r)
	q, rem := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if rem.Lsh(rem, 1).Cmp(r.Denom()) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if q.Cmp(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(prec)), nil)) >= 0 {
		return nil, false
	}
	if neg {
		q.Neg(q)
	}
	return q.Int64(), true
}

// refTimestamp reads a timestamp string with a regular expression and
// time.Date, UTC when no zone is given.
func refTimestamp(s string) (any, bool) {
	m := tsLit.FindStringSubmatch(s)
	if m == nil {
		return nil, false
	}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	y, mo, d, h, mi, se := num(m[1]), num(m[2]), num(m[3]), num(m[4]), num(m[5]), num(m[6])
	if h > 23 || mi > 59 || se > 59 {
		return nil, false
	}
	frac := (m[7] + "000000")[:6]
	loc := time.UTC
	if z := m[8]; z != "" && z != "Z" {
		zh, zm := num(z[1:3]), 0
		if rest := strings.TrimPrefix(z[3:], ":"); rest != "" {
			zm = num(rest)
		}
		if zm > 59 || zh*60+zm > 18*60 {
			return nil, false
		}
		off := zh*3600 + zm*60
		if z[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	tm := time.Date(y, time.Month(mo), d, h, mi, se, num(frac)*1000, loc)
	if tm.Year() != y || int(tm.Month()) != mo || tm.Day() != d {
		return nil, false // a date that does not exist, normalised by time.Date
	}
	return tm.UnixMicro(), true
}

// rowOf returns row i of b as refDecode returns rows.
func rowOf(b *types.Batch, i int) []any {
	row := make([]any, len(b.Cols))
	for k, v := range b.Cols {
		if v.IsNull(i) {
			continue
		}
		switch {
		case v.Type.Kind == types.String:
			row[k] = v.Str[i]
		case v.Type.Kind == types.Boolean:
			row[k] = v.Bool[i]
		case v.Type.Kind == types.Double:
			row[k] = v.F64[i]
		default:
			row[k] = v.I64[i]
		}
	}
	return row
}

// sameRow compares rows, floats bit for bit (so that -0 and 0 differ).
func sameRow(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		fa, okA := a[k].(float64)
		fb, okB := b[k].(float64)
		if okA || okB {
			if !okA || !okB || math.Float64bits(fa) != math.Float64bits(fb) {
				return false
			}
			continue
		}
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

// assertMatchesReference decodes r with d and with refDecode and fails
// unless they agree: the same reason and field, or the same row. It also
// checks that a reject appends nothing and an accept exactly one row.
func assertMatchesReference(t testing.TB, d *Decoder, f Format, cols []Column, r *Record) {
	t.Helper()
	out := d.NewBatch(1)
	rej := d.Decode(r, out)
	want, reason, field := refDecode(f, cols, d.maxBytes, r)
	if reason != "" {
		if rej == nil {
			t.Fatalf("Decode(%.300q) = %v, the reference rejects it: %s/%q", r.Value, rowOf(out, 0), reason, field)
		}
		if rej.Reason != reason || rej.Field != field {
			t.Fatalf("Decode(%.300q) rejects with %s/%q (%v), the reference with %s/%q", r.Value, rej.Reason, rej.Field, rej, reason, field)
		}
		checkLen(t, out, 0)
		return
	}
	if rej != nil {
		t.Fatalf("Decode(%.300q) rejects (%v) a record the reference reads as %v", r.Value, rej, want)
	}
	checkLen(t, out, 1)
	if got := rowOf(out, 0); !sameRow(got, want) {
		t.Fatalf("Decode(%.300q) = %#v, the reference = %#v", r.Value, got, want)
	}
}

// checkLen fails unless every column, Partition and N hold n rows.
func checkLen(t testing.TB, b *types.Batch, n int) {
	t.Helper()
	for k, v := range b.Cols {
		if v.Len() != n || (v.Null != nil && len(v.Null) != n) {
			t.Fatalf("column %d holds %d rows (%d nulls), want %d", k, v.Len(), len(v.Null), n)
		}
	}
	if b.N != n || len(b.Partition) != n {
		t.Fatalf("batch N = %d with %d partitions, want %d", b.N, len(b.Partition), n)
	}
}
