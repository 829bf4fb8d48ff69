package agg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/sensorlab/sensorlab/query/types"
)

// Group keys are encoded into one byte string per row. The encoding is
// order-preserving: comparing two encodings bytewise orders them as SQL's
// ORDER BY key1, key2, … ASC NULLS FIRST does (strings bytewise, doubles by
// Spark's order with -0 = 0 and NaN greatest). The same bytes are hashed,
// compared for equality, sorted at emit and written to checkpoints.
//
//	nullable column: 0x00 for null, else 0x01 then the value
//	BIGINT, DECIMAL, TIMESTAMP: 8 bytes big-endian, sign bit flipped
//	INT: 4 bytes big-endian, sign bit flipped
//	BOOLEAN: one byte, 0 or 1
//	DOUBLE: 8 bytes big-endian of the IEEE bits, negative values inverted,
//	        positive ones with the sign bit set; -0 is written as 0 and
//	        every NaN as one NaN (Spark normalizes grouping keys so)
//	STRING: the bytes; unless the column is the last key, each 0x00 is
//	        written 0x00 0xFF and the string ends with 0x00 0x00
type keyCodec struct {
	cols []keyCol
}

type keyCol struct {
	in       int // input column
	t        types.Type
	nullable bool
	last     bool
}

func newKeyCodec(in types.Schema, keys []int) keyCodec {
	c := keyCodec{cols: make([]keyCol, len(keys))}
	for i, k := range keys {
		c.cols[i] = keyCol{in: k, t: in[k].Type, nullable: in[k].Nullable, last: i == len(keys)-1}
	}
	return c
}

var errNullKey = errors.New("a null value in a group key column declared NOT NULL")

// encodeBatch appends the key of every row of b to buf and sets ends[i] to
// the end of row i's key in buf. Column by column is not possible with
// variable-length strings, so it walks rows and columns.
func (c *keyCodec) encodeBatch(b *types.Batch, buf []byte, ends []uint32) ([]byte, error) {
	if len(c.cols) == 1 {
		// One key: a loop per type, no per-row dispatch.
		kc := &c.cols[0]
		v := b.Cols[kc.in]
		if v.Null != nil && !kc.nullable {
			for i := 0; i < b.N; i++ {
				if v.Null[i] {
					return buf, fmt.Errorf("group key %s: %w", b.Schema[kc.in].Name, errNullKey)
				}
			}
		}
		if !kc.nullable && kc.t.Kind == types.String && kc.last {
			for i, s := range v.Str[:b.N] {
				buf = append(buf, s...)
				ends[i] = uint32(len(buf))
			}
			return buf, nil
		}
		if !kc.nullable && (kc.t.Kind == types.Bigint || kc.t.Kind == types.Timestamp || kc.t.Kind == types.Decimal) {
			for i, x := range v.I64[:b.N] {
				buf = binary.BigEndian.AppendUint64(buf, uint64(x)^(1<<63))
				ends[i] = uint32(len(buf))
			}
			return buf, nil
		}
	}
	for i := 0; i < b.N; i++ {
		for k := range c.cols {
			kc := &c.cols[k]
			v := b.Cols[kc.in]
			if v.Null != nil && v.Null[i] {
				if !kc.nullable {
					return buf, fmt.Errorf("group key %s: %w", b.Schema[kc.in].Name, errNullKey)
				}
				buf = append(buf, 0)
				continue
			}
			if kc.nullable {
				buf = append(buf, 1)
			}
			buf = kc.appendValue(buf, v, i)
		}
		ends[i] = uint32(len(buf))
	}
	return buf, nil
}

// checkNulls refuses a null in a key column declared NOT NULL.
func (c *keyCodec) checkNulls(b *types.Batch) error {
	for k := range c.cols {
		kc := &c.cols[k]
		if null := b.Cols[kc.in].Null; null != nil && !kc.nullable {
			for _, isNull := range null[:b.N] {
				if isNull {
					return fmt.Errorf("group key %s: %w", b.Schema[kc.in].Name, errNullKey)
				}
			}
		}
	}
	return nil
}

// appendValue appends the encoding of v[i], which is not null.
func (kc *keyCol) appendValue(buf []byte, v *types.Vector, i int) []byte {
	switch kc.t.Kind {
	case types.String:
		s := v.Str[i]
		if kc.last {
			return append(buf, s...)
		}
		for j := 0; j < len(s); j++ {
			buf = append(buf, s[j])
			if s[j] == 0 {
				buf = append(buf, 0xFF)
			}
		}
		return append(buf, 0, 0)
	case types.Boolean:
		if v.Bool[i] {
			return append(buf, 1)
		}
		return append(buf, 0)
	case types.Int:
		return binary.BigEndian.AppendUint32(buf, uint32(int32(v.I64[i]))^(1<<31))
	case types.Double:
		return binary.BigEndian.AppendUint64(buf, orderedFloat(v.F64[i]))
	default: // BIGINT, DECIMAL, TIMESTAMP
		return binary.BigEndian.AppendUint64(buf, uint64(v.I64[i])^(1<<63))
	}
}

// canonicalNaN is the NaN every NaN key is grouped as.
const canonicalNaN = 0x7ff8000000000000

// orderedFloat maps a double to bits whose unsigned order is Spark's order.
func orderedFloat(f float64) uint64 {
	var u uint64
	switch {
	case f == 0:
		u = 0
	case f != f:
		u = canonicalNaN
	default:
		u = math.Float64bits(f)
	}
	if u>>63 != 0 {
		return ^u
	}
	return u | 1<<63
}

func unorderedFloat(u uint64) float64 {
	if u>>63 != 0 {
		return math.Float64frombits(u &^ (1 << 63))
	}
	return math.Float64frombits(^u)
}

var errBadKey = errors.New("malformed group key encoding")

// decode appends the key encoded in k to the output vectors out (one per
// key column). Keys come from the state or a verified checkpoint; a
// malformed one is reported, not trusted.
func (c *keyCodec) decode(k []byte, out []*types.Vector) error {
	for i := range c.cols {
		kc := &c.cols[i]
		v := out[i]
		if kc.nullable {
			if len(k) == 0 {
				return errBadKey
			}
			tag := k[0]
			k = k[1:]
			if tag == 0 {
				v.AppendNull()
				continue
			} else if tag != 1 {
				return errBadKey
			}
		}
		var n int
		switch kc.t.Kind {
		case types.String:
			if kc.last {
				v.AppendString(string(k))
				n = len(k)
				break
			}
			var s []byte
			j := 0
			for {
				if j+1 >= len(k) {
					return errBadKey
				}
				if k[j] == 0 {
					if k[j+1] == 0 {
						break
					}
					if k[j+1] != 0xFF {
						return errBadKey
					}
					s = append(s, 0)
					j += 2
					continue
				}
				s = append(s, k[j])
				j++
			}
			v.AppendString(string(s))
			n = j + 2
		case types.Boolean:
			if len(k) < 1 || k[0] > 1 {
				return errBadKey
			}
			v.AppendBool(k[0] == 1)
			n = 1
		case types.Int:
			if len(k) < 4 {
				return errBadKey
			}
			v.AppendInt(int64(int32(binary.BigEndian.Uint32(k) ^ (1 << 31))))
			n = 4
		case types.Double:
			if len(k) < 8 {
				return errBadKey
			}
			v.AppendFloat(unorderedFloat(binary.BigEndian.Uint64(k)))
			n = 8
		default:
			if len(k) < 8 {
				return errBadKey
			}
			v.AppendInt(int64(binary.BigEndian.Uint64(k) ^ (1 << 63)))
			n = 8
		}
		k = k[n:]
	}
	if len(k) != 0 {
		return errBadKey
	}
	return nil
}
