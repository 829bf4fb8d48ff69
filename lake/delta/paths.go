package delta

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// EncodePath turns a data file's path relative to the table root (an
// object key suffix, "/"-separated, as stored) into the add action's path:
// a relative URI reference (RFC 2396), so "%" becomes "%25", a space "%20".
// A ":" in the first segment is escaped too, so that the path cannot be
// read as a URI with a scheme.
func EncodePath(rel string) string {
	u := url.URL{Path: rel}
	p := u.EscapedPath()
	first, rest, found := strings.Cut(p, "/")
	if strings.Contains(first, ":") {
		first = strings.ReplaceAll(first, ":", "%3A")
		if found {
			return first + "/" + rest
		}
		return first
	}
	return p
}

// DecodePath reverses EncodePath for any path in the log: it URL-decodes a
// relative path, or an absolute URI's path ("s3://b/t/x%20y.parquet" stays
// a URI, decoded). "+" stays "+": these are paths, not form values.
func DecodePath(p string) (string, error) {
	if isAbsolutePath(p) && !strings.HasPrefix(p, "/") {
		u, err := url.Parse(p)
		if err != nil {
			return "", fmt.Errorf("delta: file path %q: %w", p, err)
		}
		return u.Scheme + "://" + u.Host + u.Path, nil
	}
	d, err := url.PathUnescape(p)
	if err != nil {
		return "", fmt.Errorf("delta: file path %q: %w", p, err)
	}
	return d, nil
}

// isAbsolutePath reports whether a log path is absolute: it starts with "/"
// or has a URI scheme ("s3a://...", "file:/...").
func isAbsolutePath(p string) bool {
	if strings.HasPrefix(p, "/") {
		return true
	}
	i := strings.IndexByte(p, ':')
	if i <= 0 {
		return false
	}
	for j := 0; j < i; j++ {
		c := p[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// HiveDefaultPartition is the directory name of a null partition value.
const HiveDefaultPartition = "__HIVE_DEFAULT_PARTITION__"

// PartitionPath returns the Hive-style directory of a partition,
// "date=2024-11-21/region=eu", from serialized partition values (see
// PartitionValue): names and values escaped as Hive and Spark escape them
// (escapePathName), a null value as __HIVE_DEFAULT_PARTITION__. The
// directory is only a convention: readers take values from the log.
func PartitionPath(columns []string, values PartitionValues) string {
	var b strings.Builder
	for i, c := range columns {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(escapePathName(c))
		b.WriteByte('=')
		if v := values[c]; v == "" {
			b.WriteString(HiveDefaultPartition)
		} else {
			b.WriteString(escapePathName(v))
		}
	}
	return b.String()
}

// escapePathName is Hive's (and Spark's ExternalCatalogUtils') escaping of
// a partition name or value: control characters and "\"#%'*/:=?\\\x7f{[]^"
// become %XX (upper-case hex).
func escapePathName(s string) string {
	const special = "\"#%'*/:=?\\\x7f{[]^"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || strings.IndexByte(special, c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// PartitionValue serializes a partition value of the given type as the
// protocol says: nil is null (""), a date "2024-11-21" (from a time.Time,
// its UTC day), a timestamp ISO 8601 in UTC with microseconds
// ("2024-11-21T10:00:00.000000Z", the form the protocol recommends), a
// timestamp_ntz "2024-11-21 10:00:00.000000", numbers in decimal, booleans
// "true"/"false", strings as they are. (A string value "" is null: the
// protocol does not tell them apart.)
func PartitionValue(t DataType, v any) (string, error) {
	if v == nil {
		return "", nil
	}
	pt, ok := t.(PrimitiveType)
	if !ok {
		return "", fmt.Errorf("delta: a %s column cannot be a partition column", t.TypeName())
	}
	bad := func() (string, error) {
		return "", fmt.Errorf("delta: partition value %v (%T) for a %s column", v, v, pt)
	}
	switch pt {
	case Date:
		tm, ok := v.(time.Time)
		if !ok {
			return bad()
		}
		return tm.UTC().Format(time.DateOnly), nil
	case Timestamp:
		tm, ok := v.(time.Time)
		if !ok {
			return bad()
		}
		return tm.UTC().Format("2006-01-02T15:04:05.000000Z"), nil
	case TimestampNTZ:
		tm, ok := v.(time.Time)
		if !ok {
			return bad()
		}
		return tm.Format("2006-01-02 15:04:05.000000"), nil
	case String:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		return s, nil
	case Boolean:
		b, ok := v.(bool)
		if !ok {
			return bad()
		}
		return strconv.FormatBool(b), nil
	case Long, Integer, Short, Byte:
		switch n := v.(type) {
		case int:
			return strconv.FormatInt(int64(n), 10), nil
		case int8:
			return strconv.FormatInt(int64(n), 10), nil
		case int16:
			return strconv.FormatInt(int64(n), 10), nil
		case int32:
			return strconv.FormatInt(int64(n), 10), nil
		case int64:
			return strconv.FormatInt(n, 10), nil
		}
		return bad()
	case Float, Double:
		var f float64
		switch n := v.(type) {
		case float32:
			f = float64(n)
		case float64:
			f = n
		default:
			return bad()
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return bad()
		}
		bits := 64
		if pt == Float {
			bits = 32
		}
		return strconv.FormatFloat(f, 'g', -1, bits), nil
	}
	return "", fmt.Errorf("delta: partition values of type %s are not supported", pt)
}

// ParsePartitionValue reads a serialized partition value back: nil for
// null (""), time.Time for date (UTC midnight), timestamp (any of the
// protocol's forms; one without a zone is read as UTC) and timestamp_ntz,
// int64, float64, bool, or string.
func ParsePartitionValue(t DataType, s string) (any, error) {
	if s == "" {
		return nil, nil
	}
	pt, _ := t.(PrimitiveType)
	var v any
	var err error
	switch pt {
	case Date:
		v, err = time.Parse(time.DateOnly, s)
	case Timestamp:
		var tm time.Time
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05"} {
			if tm, err = time.Parse(layout, s); err == nil {
				break
			}
		}
		v = tm.UTC()
	case TimestampNTZ:
		v, err = time.Parse("2006-01-02 15:04:05.999999999", s)
	case Long, Integer, Short, Byte:
		v, err = strconv.ParseInt(s, 10, 64)
	case Float, Double:
		v, err = strconv.ParseFloat(s, 64)
	case Boolean:
		v, err = strconv.ParseBool(s)
	case String:
		v = s
	default:
		return nil, fmt.Errorf("delta: partition values of type %s are not supported", t.TypeName())
	}
	if err != nil {
		return nil, fmt.Errorf("delta: partition value %q of type %s: %w", s, pt, err)
	}
	return v, nil
}
