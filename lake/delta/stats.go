package delta

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// Stats is an add action's per-file statistics (the protocol's Per-file
// Statistics): minValues, maxValues and nullCount mirror the schema
// (nested objects for struct columns).
type Stats struct {
	NumRecords  int64          `json:"numRecords"`
	MinValues   map[string]any `json:"minValues,omitempty"`
	MaxValues   map[string]any `json:"maxValues,omitempty"`
	NullCount   map[string]any `json:"nullCount,omitempty"`
	TightBounds *bool          `json:"tightBounds,omitempty"`
}

// JSON returns the stats as the add action's stats string.
func (s Stats) JSON() (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

// ParseStats reads an add action's stats string ("" gives zero Stats).
// Numbers come back as float64, as encoding/json reads them.
func ParseStats(s string) (Stats, error) {
	var st Stats
	if s == "" {
		return st, nil
	}
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return Stats{}, fmt.Errorf("delta: stats: %w", err)
	}
	return st, nil
}

// statsStringPrefix is how many characters of a string column's min value
// stats keep (Spark's dataSkippingStringPrefixLength); a longer max is left
// out, since a cut max would not bound the column.
const statsStringPrefix = 32

// StatsFromParquet computes a data file's stats for a table from the file's
// Parquet footer (row counts and each column chunk's min, max and null
// count), so no row is read again. It follows the table schema: partition
// columns are not in data files and get no stats; columns inside lists or
// maps get none; only the first delta.dataSkippingNumIndexedCols leaf
// columns (default 32, -1 for all) are indexed. Min and max are given for
// numbers, dates, timestamps (UTC, truncated to milliseconds as the
// protocol says) and strings (min cut to 32 characters); a column whose
// chunks lack min/max gets only its null count. A table column missing
// from the file counts as all null. Parquet writers leave NaN out of
// bounds, so a float column's bounds say nothing about NaN (Spark orders
// NaN above every number): write no NaN where data skipping matters.
func StatsFromParquet(f *parquet.File, md Metadata) (Stats, error) {
	schema, err := md.Schema()
	if err != nil {
		return Stats{}, err
	}
	numIndexed, err := confInt(md.Configuration, PropDataSkippingNumIndexedCols, defaultDataSkippingNumFields)
	if err != nil {
		return Stats{}, err
	}
	partition := map[string]bool{}
	for _, c := range md.PartitionColumns {
		partition[c] = true
	}
	st := Stats{NumRecords: f.NumRows(), MinValues: map[string]any{}, MaxValues: map[string]any{}, NullCount: map[string]any{}}
	indexed := int64(0)
	var walk func(fields []StructField, path []string, mins, maxs, nulls map[string]any)
	walk = func(fields []StructField, path []string, mins, maxs, nulls map[string]any) {
		for _, field := range fields {
			if len(path) == 0 && partition[field.Name] {
				continue
			}
			p := append(cloneStrings(path), field.Name)
			switch t := field.Type.(type) {
			case *StructType:
				cmins, cmaxs, cnulls := map[string]any{}, map[string]any{}, map[string]any{}
				walk(t.Fields, p, cmins, cmaxs, cnulls)
				setNonEmpty(mins, field.Name, cmins)
				setNonEmpty(maxs, field.Name, cmaxs)
				setNonEmpty(nulls, field.Name, cnulls)
				continue
			case PrimitiveType:
				if numIndexed >= 0 && indexed >= numIndexed {
					return
				}
				indexed++
				lo, hi, nullCount, ok := columnStats(f, p, t)
				if !ok {
					continue
				}
				nulls[field.Name] = nullCount
				if lo != nil {
					mins[field.Name] = lo
				}
				if hi != nil {
					maxs[field.Name] = hi
				}
			default:
				indexed++ // arrays and maps: no stats, but they count
			}
		}
	}
	walk(schema.Fields, nil, st.MinValues, st.MaxValues, st.NullCount)
	return st, nil
}

func setNonEmpty(m map[string]any, k string, v map[string]any) {
	if len(v) > 0 {
		m[k] = v
	}
}

// columnStats combines one column's chunk statistics over the row groups.
// ok is false when the file holds the column inside a repeated field.
func columnStats(f *parquet.File, path []string, t PrimitiveType) (lo, hi any, nulls int64, ok bool) {
	leaf, found := f.Schema().Lookup(path...)
	if !found {
		return nil, nil, f.NumRows(), true // not in the file: all null
	}
	if leaf.MaxRepetitionLevel > 0 {
		return nil, nil, 0, false
	}
	minMax := minMaxable(t)
	var loV, hiV parquet.Value
	have := false
	for _, rg := range f.Metadata().RowGroups {
		if leaf.ColumnIndex >= len(rg.Columns) {
			return nil, nil, 0, false
		}
		md := rg.Columns[leaf.ColumnIndex].MetaData
		s := md.Statistics
		nulls += s.NullCount
		if !minMax || md.NumValues == s.NullCount {
			continue // no bounds wanted, or only nulls in this chunk
		}
		minB, maxB := s.MinValue, s.MaxValue
		if minB == nil || maxB == nil {
			minMax = false // a chunk without bounds: the file has none
			continue
		}
		kind := leaf.Node.Type().Kind()
		l, h := kind.Value(minB), kind.Value(maxB)
		if !have {
			loV, hiV, have = l, h, true
			continue
		}
		typ := leaf.Node.Type()
		if typ.Compare(l, loV) < 0 {
			loV = l
		}
		if typ.Compare(h, hiV) > 0 {
			hiV = h
		}
	}
	if !minMax || !have {
		return nil, nil, nulls, true
	}
	lo, hi = statValue(leaf.Node, t, loV, false), statValue(leaf.Node, t, hiV, true)
	return lo, hi, nulls, true
}

func minMaxable(t PrimitiveType) bool {
	switch t {
	case Long, Integer, Short, Byte, Float, Double, Date, Timestamp, TimestampNTZ, String:
		return true
	}
	return false
}

// statValue renders a Parquet min or max as the stats JSON holds it, or
// nil when it cannot bound the column.
func statValue(node parquet.Node, t PrimitiveType, v parquet.Value, isMax bool) any {
	switch t {
	case Long, Integer, Short, Byte:
		switch v.Kind() {
		case parquet.Int32:
			return int64(v.Int32())
		case parquet.Int64:
			return v.Int64()
		}
	case Float, Double:
		var x float64
		switch v.Kind() {
		case parquet.Float:
			x = float64(v.Float())
		case parquet.Double:
			x = v.Double()
		default:
			return nil
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return x
	case Date:
		if v.Kind() == parquet.Int32 {
			return time.Unix(int64(v.Int32())*86400, 0).UTC().Format(time.DateOnly)
		}
	case Timestamp, TimestampNTZ:
		if v.Kind() != parquet.Int64 {
			return nil
		}
		tm, ok := timestampOf(node, v.Int64())
		if !ok {
			return nil
		}
		tm = tm.Truncate(time.Millisecond)
		if t == Timestamp {
			return tm.Format("2006-01-02T15:04:05.000Z07:00")
		}
		return tm.Format("2006-01-02T15:04:05.000")
	case String:
		b := v.ByteArray()
		if !utf8.Valid(b) {
			return nil
		}
		s := string(b)
		if utf8.RuneCountInString(s) > statsStringPrefix {
			if isMax {
				return nil
			}
			r := []rune(s)
			return string(r[:statsStringPrefix])
		}
		return s
	}
	return nil
}

// timestampOf converts an INT64 timestamp of the column's unit to UTC time.
func timestampOf(node parquet.Node, n int64) (time.Time, bool) {
	unit := time.Microsecond // Spark's, when the file says nothing
	if ts, ok := logicalValue(node).(*format.TimestampType); ok {
		if ts.Unit.Value == nil {
			return time.Time{}, false
		}
		unit = ts.Unit.Value.Duration()
	}
	switch unit {
	case time.Millisecond:
		return time.UnixMilli(n).UTC(), true
	case time.Microsecond:
		return time.UnixMicro(n).UTC(), true
	case time.Nanosecond:
		return time.Unix(0, n).UTC(), true
	}
	return time.Time{}, false
}
