// Package decode turns Kafka records into rows of a types.Batch for a
// source declared in SQL, for any declared schema:
//
//	CREATE SOURCE sensors (sensor_id STRING NOT NULL, ts BIGINT NOT NULL, temp DOUBLE NOT NULL,
//	    hum DOUBLE NOT NULL, ok BOOLEAN NOT NULL, part INT METADATA FROM 'partition') WITH (format = 'json')
//
// New builds a field table from the columns once; Decode then reads each
// record with the one JSON scanner, integer, float, decimal and timestamp
// parsers of the engine. It holds no code written for one schema: its fast
// path (one compare per key when a record's keys come in the declared order,
// or in the one order a producer was seen to write them in, with the
// spacing of a compact or a Python-style encoder) is derived from the field
// table and the records, and falls back to the general scanner, which
// decides every record exactly, on anything else.
//
// # Records and rows
//
// Decode appends exactly one row to the batch (and the record's partition to
// Batch.Partition) and returns nil, or appends nothing and returns a
// *Reject whose Reason is the dead-letter reason, checked in this order:
//
//   - missing_field, field "key": a NOT NULL key column and a record without
//     a key;
//   - empty_value: a JSON record with an empty value;
//   - too_large: a value over the limit (WithMaxValueBytes, by default
//     DefaultMaxValueBytes, the contract's);
//   - invalid_utf8: a value that is not UTF-8;
//   - malformed_json: a value that is not one JSON value (RFC 8259, nesting
//     at most 10000 deep, as encoding/json reads it) with only whitespace
//     around it;
//   - not_object: JSON that is not an object;
//   - then the payload columns in declared order, the first that fails:
//     missing_field (a NOT NULL column absent or null), wrong_type (a
//     value of a type the column cannot hold: see below) or out_of_range
//     (an integer beyond an INT or BIGINT column's range).
//
// These strings, and the Field reported, are those of the contract's
// reference decoder (contract.DecodeEvent) for the same records; the
// contract's value checks (ranges, sensor id shape) are the query's CHECK
// constraints, not the decoder's.
//
// # JSON format
//
// A payload column (Metadata "") reads the value of the top-level key equal
// to its name, compared case-sensitively, as Spark's JSON reader and the
// contract's decoder compare keys. Keys of no column are skipped, with the
// JSON grammar checked. A key given twice takes its last value, as in
// encoding/json (the contract's decoder) and in Spark's JSON reader: an
// earlier value of the wrong type is then not an error. A nullable column
// absent or null is null. Values convert as Spark's JSON reader converts
// them, with the exceptions marked:
//
//   - STRING: a JSON string, escapes decoded as encoding/json decodes them
//     (a lone UTF-16 surrogate becomes U+FFFD). Another JSON type is
//     wrong_type (Spark would take its JSON text; the contract refuses it).
//   - BOOLEAN: true or false.
//   - BIGINT, INT: a JSON number without fraction or exponent in the
//     column's range (INT: 32 bits); one beyond it is out_of_range (the
//     contract's reason for a ts beyond int64), one with a fraction or an
//     exponent wrong_type.
//   - DOUBLE: any JSON number, converted as strconv.ParseFloat converts it;
//     beyond the float64 range it is ±Inf, as in Spark. A string is
//     wrong_type (Spark reads "NaN" and "Infinity"; the contract refuses).
//   - DECIMAL(p,s): a JSON number or a string holding one (BigDecimal's
//     grammar; commas are ignored in strings, as Spark's en-US parser does),
//     exact, rounded HALF_UP to s digits; wrong_type when the result needs
//     more than p digits.
//   - TIMESTAMP: a string yyyy-[m]m-[d]d[(T| )[h]h:[m]m[:[s]s[.f]]][zone],
//     the zone Z, ±hh, ±hh:mm or ±hhmm, a fraction of up to 9 digits (kept
//     to microseconds); without a zone it is read in the session time zone,
//     which is UTC in this engine. A JSON integer is seconds since the epoch,
//     as Spark's JSON reader reads one. Anything else is wrong_type.
//
// # Text format
//
// The value is the one payload column, a STRING, as Spark's
// CAST(value AS STRING): any bytes that are UTF-8 (an empty value is the
// empty string, never null); other bytes are invalid_utf8.
//
// # Metadata columns
//
// A column with Metadata set is one of the Kafka source's columns, with
// Spark's type: key STRING (Spark's BINARY, cast: its bytes as they are;
// null when the record has none), topic STRING, partition INT, offset
// BIGINT, timestamp TIMESTAMP (the record's milliseconds), timestampType
// INT (0 create time, 1 log append time).
//
// # Strings
//
// Strings in the batch never alias Record.Value or Record.Key, which the
// source may reuse: they are copied into arena chunks the Decoder owns and
// never overwrites, so they stay valid after the record's buffer is reused
// and after the batch is reset. A string kept for long (a state key) should
// be cloned, so as not to keep its whole chunk alive. Strings of up to seven
// bytes are interned: the decoder remembers the last 256 it copied and
// returns the same string for the same bytes, so a column of few distinct
// values (a sensor id) costs no copy per record; the table keeps at most
// 256 chunks alive. A Decoder is not safe for concurrent use.
package decode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/sensorlab/sensorlab/query/types"
)

// Format is how a record value is read.
type Format uint8

// The formats of CREATE SOURCE … WITH (format = …).
const (
	JSON Format = iota // one JSON object per record
	Text               // the value is one STRING
)

// String returns the format as WITH (format = …) names it.
func (f Format) String() string {
	switch f {
	case JSON:
		return "json"
	case Text:
		return "text"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// Column is one declared column of a source.
type Column struct {
	Name    string
	Type    types.Type
	NotNull bool
	// Metadata is "" for a column read from the value, or the Kafka source
	// column it reads (case-insensitive): "key", "topic", "partition",
	// "offset", "timestamp" or "timestampType".
	Metadata string
}

// Record is one Kafka record, as the source hands it over. Key is nil when
// the record has no key.
type Record struct {
	Key, Value    []byte
	Topic         string
	Partition     int32
	Offset        int64
	TimestampMs   int64
	TimestampType int32
}

// DefaultMaxValueBytes is the largest value Decode reads unless told
// otherwise: the contract's MaxValueBytes.
const DefaultMaxValueBytes = 64 << 10

// The reasons of a Reject: the dead-letter header's strings, those of the
// contract where they mean the same.
const (
	ReasonEmpty         = "empty_value"
	ReasonTooLarge      = "too_large"
	ReasonInvalidUTF8   = "invalid_utf8"
	ReasonMalformedJSON = "malformed_json"
	ReasonNotObject     = "not_object"
	ReasonMissingField  = "missing_field"
	ReasonWrongType     = "wrong_type"
	ReasonOutOfRange    = "out_of_range"
	// ReasonKeyMismatch: the record's Kafka key is not the value of the
	// column its source is declared keyed by (plan's WITH key = '…').
	ReasonKeyMismatch = "key_mismatch"
)

// Reject says why a record was not decoded. Field names the column at
// fault, when there is one.
type Reject struct {
	Reason string
	Field  string
	Detail string
}

func (r *Reject) Error() string {
	if r.Field != "" {
		return fmt.Sprintf("%s: field %q: %s", r.Reason, r.Field, r.Detail)
	}
	return fmt.Sprintf("%s: %s", r.Reason, r.Detail)
}

// Option configures a Decoder.
type Option func(*Decoder) error

// WithMaxValueBytes sets the largest value Decode reads; larger ones are
// too_large.
func WithMaxValueBytes(n int) Option {
	return func(d *Decoder) error {
		if n <= 0 {
			return fmt.Errorf("maximum value size %d: must be positive", n)
		}
		d.maxBytes = n
		return nil
	}
}

// metaKind is which Kafka column a metadata column reads.
type metaKind uint8

const (
	metaKey metaKind = iota
	metaTopic
	metaPartition
	metaOffset
	metaTimestamp
	metaTimestampType
)

// metaColumns are Spark's Kafka source columns and their types (key is
// BINARY in Spark and read here as its CAST to STRING).
var metaColumns = []struct {
	name string
	kind metaKind
	typ  types.Type
}{
	{"key", metaKey, types.TString},
	{"topic", metaTopic, types.TString},
	{"partition", metaPartition, types.TInt},
	{"offset", metaOffset, types.TBigint},
	{"timestamp", metaTimestamp, types.TTimestamp},
	{"timestampType", metaTimestampType, types.TInt},
}

// field is one payload column in the field table.
type field struct {
	name        string
	kind        types.Kind
	prec, scale int
	notNull     bool
	col         int // index in the batch
	// lits are the fast path's literals before this column's value, by
	// spacing (compact, spaced) and position (the first key, a later one).
	lits [2][2]literal
}

// step is one payload column on the schema-order path, for one spacing:
// the literal before its value (the text from the end of the previous
// value, or from the start for the first) and what to do with the value.
type step struct {
	lit     literal
	kind    types.Kind
	notNull bool
	col     int
	field   *field
}

type metaCol struct {
	kind metaKind
	col  int
}

// Decoder decodes records of one declared schema. Build it with New.
type Decoder struct {
	format   Format
	schema   types.Schema
	fields   []field // payload columns, in declared order
	metas    []metaCol
	keyReq   bool      // a NOT NULL key column
	ordered  bool      // the fast path applies (see decodeOrdered)
	steps    [2][]step // the fast path's program: compact, spaced
	order    []int     // the program's payload columns (indexes into fields)
	maxBytes int

	// seen is the payload column of each key of the last record the
	// general path read (-1: no column's), prev the order of the one
	// before it that might have been a program (see learn).
	seen, prev []int

	// byHash maps keyHash of a declared payload column's name to its index
	// plus one (0: no column); collide says two names share a hash, and
	// lookup then scans the names.
	byHash  [256]uint8
	collide bool

	// Per-record scratch of the general path.
	slots   []slot
	keyBuf  []byte // an escaped key, decoded
	scratch []byte // escaped string values, decoded

	arena  arena
	intern *[internSize]interned // the short strings returned lately
	alias  bool                  // strings alias the input: only for the benchmark that measures the copy
}

// internSize is the number of short strings the decoder remembers (a
// power of two): a column of few distinct values (a sensor id) then reuses
// the same strings instead of copying each record's.
const internSize = 256

// interned is a string of up to seven bytes and its bytes as a word.
type interned struct {
	w uint64
	s string
}

// New returns a decoder for cols read in format f. It refuses what it
// cannot decode: an empty or repeated column name (names compare without
// case, as SQL's), an invalid type, an unknown metadata column or one
// declared with another type than Spark's, and in the text format anything
// but exactly one payload column of type STRING.
func New(f Format, cols []Column, opts ...Option) (*Decoder, error) {
	d := &Decoder{format: f, maxBytes: DefaultMaxValueBytes, ordered: true}
	for _, o := range opts {
		if err := o(d); err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
	}
	if f != JSON && f != Text {
		return nil, fmt.Errorf("decode: unknown format %v", f)
	}
	if len(cols) == 0 {
		return nil, errors.New("decode: a source needs at least one column")
	}
	for i, c := range cols {
		if c.Name == "" {
			return nil, fmt.Errorf("decode: column %d has no name", i+1)
		}
		if d.schema.Index(c.Name) >= 0 {
			return nil, fmt.Errorf("decode: column %q is declared twice", c.Name)
		}
		if err := checkType(c.Type); err != nil {
			return nil, fmt.Errorf("decode: column %q: %w", c.Name, err)
		}
		d.schema = append(d.schema, types.Field{Name: c.Name, Type: c.Type, Nullable: !c.NotNull})
		if c.Metadata != "" {
			m, err := metaOf(c)
			if err != nil {
				return nil, fmt.Errorf("decode: column %q: %w", c.Name, err)
			}
			d.metas = append(d.metas, metaCol{kind: m, col: i})
			d.keyReq = d.keyReq || (m == metaKey && c.NotNull)
			continue
		}
		fl := field{name: c.Name, kind: c.Type.Kind, prec: int(c.Type.Precision), scale: int(c.Type.Scale),
			notNull: c.NotNull, col: i}
		fl.lits[0] = [2]literal{newLiteral(`{"` + c.Name + `":`), newLiteral(`,"` + c.Name + `":`)}
		fl.lits[1] = [2]literal{newLiteral(`{"` + c.Name + `": `), newLiteral(`, "` + c.Name + `": `)}
		// A name JSON must escape never matches its literal in valid JSON,
		// and the literal must not match invalid JSON either.
		if strings.ContainsFunc(c.Name, func(r rune) bool { return r < 0x20 || r == '"' || r == '\\' }) {
			d.ordered = false
		}
		d.fields = append(d.fields, fl)
	}
	if f == Text && (len(d.fields) != 1 || d.fields[0].kind != types.String) {
		return nil, errors.New("decode: the text format needs exactly one column read from the value, of type STRING")
	}
	d.ordered = d.ordered && len(d.fields) > 0
	d.collide = len(d.fields) > 255
	for k := 0; k < len(d.fields) && !d.collide; k++ {
		h := keyHash(d.fields[k].name)
		d.collide = d.byHash[h] != 0
		d.byHash[h] = uint8(k + 1)
	}
	declared := make([]int, len(d.fields))
	for k := range declared {
		declared[k] = k
	}
	d.setProgram(declared)
	d.slots = make([]slot, len(d.fields))
	return d, nil
}

// setProgram makes the fast path read the payload columns in order, a
// permutation of their indexes in d.fields.
func (d *Decoder) setProgram(order []int) {
	d.order = append(d.order[:0], order...)
	for sp := range d.steps {
		steps := d.steps[sp][:0]
		for pos, k := range order {
			f := &d.fields[k]
			steps = append(steps, step{lit: f.lits[sp][min(pos, 1)], kind: f.kind, notNull: f.notNull, col: f.col, field: f})
		}
		d.steps[sp] = steps
	}
}

// learn is called after the general path accepted a record. A producer
// that always writes its keys in one order other than the declared one
// (alphabetically, or as a serializer orders a class's fields) would send
// every record down the general path: when two such records in a row hold
// exactly the payload columns, each once, in the same order, that order
// becomes the fast path's program. Records in any other order still take
// the general path, as before; a record that sits between two others of
// its order does not change the program, so one odd record in a stream is
// not worth a rebuild.
func (d *Decoder) learn() {
	seen := d.seen
	if len(seen) != len(d.fields) || slices.Equal(seen, d.order) {
		return
	}
	if !slices.Equal(seen, d.prev) {
		d.prev = append(d.prev[:0], seen...)
		return
	}
	taken := make([]bool, len(d.fields))
	for _, k := range seen {
		if k < 0 || taken[k] {
			return
		}
		taken[k] = true
	}
	d.setProgram(seen)
}

func checkType(t types.Type) error {
	switch t.Kind {
	case types.String, types.Boolean, types.Int, types.Bigint, types.Double, types.Timestamp:
		return nil
	case types.Decimal:
		return types.CheckDecimal(int(t.Precision), int(t.Scale))
	}
	return fmt.Errorf("type %v cannot be read from a record", t)
}

func metaOf(c Column) (metaKind, error) {
	for _, m := range metaColumns {
		if strings.EqualFold(c.Metadata, m.name) {
			if c.Type != m.typ {
				return 0, fmt.Errorf("METADATA FROM '%s' is %v, not %v", m.name, m.typ, c.Type)
			}
			return m.kind, nil
		}
	}
	return 0, fmt.Errorf("unknown METADATA FROM '%s': the Kafka source has key, topic, partition, offset, timestamp, timestampType", c.Metadata)
}

// Schema returns the declared columns as the batch's schema.
func (d *Decoder) Schema() types.Schema { return d.schema }

// NewBatch returns an empty batch of the decoder's schema with room for n
// rows: the batches Decode appends to.
func (d *Decoder) NewBatch(n int) *types.Batch { return types.NewBatch(d.schema, n) }

// Decode appends the row of r to out, whose schema must be the decoder's
// (see NewBatch), or appends nothing and says why.
func (d *Decoder) Decode(r *Record, out *types.Batch) *Reject {
	if d.keyReq && r.Key == nil {
		return &Reject{Reason: ReasonMissingField, Field: "key", Detail: "the record has no key"}
	}
	v := r.Value
	if len(v) > d.maxBytes {
		return &Reject{Reason: ReasonTooLarge, Detail: fmt.Sprintf("record value is %d bytes, the limit is %d", len(v), d.maxBytes)}
	}
	if d.format == Text {
		if !utf8.Valid(v) {
			return &Reject{Reason: ReasonInvalidUTF8, Detail: "record value is not valid UTF-8"}
		}
		out.Cols[d.fields[0].col].AppendString(d.str(v))
	} else {
		if len(v) == 0 {
			return &Reject{Reason: ReasonEmpty, Detail: "record value is empty"}
		}
		if !d.ordered || !d.decodeOrdered(v, out) {
			if rej := d.decodeGeneral(v); rej != nil {
				return rej
			}
			d.appendSlots(out)
			if d.ordered {
				d.learn()
			}
		}
	}
	for _, m := range d.metas {
		c := out.Cols[m.col]
		switch m.kind {
		case metaKey:
			if r.Key == nil {
				c.AppendNull()
			} else {
				c.AppendString(d.str(r.Key))
			}
		case metaTopic:
			c.AppendString(r.Topic)
		case metaPartition:
			c.AppendInt(int64(r.Partition))
		case metaOffset:
			c.AppendInt(r.Offset)
		case metaTimestamp:
			c.AppendInt(r.TimestampMs * 1000)
		case metaTimestampType:
			c.AppendInt(int64(r.TimestampType))
		}
	}
	out.Partition = append(out.Partition, r.Partition)
	out.N++
	return nil
}

// str returns b as a string the batch may keep (see the package doc).
func (d *Decoder) str(b []byte) string {
	if d.alias {
		return unsafe.String(unsafe.SliceData(b), len(b))
	}
	return d.arena.str(b)
}

// strWord is str for a string b of at most seven bytes whose bytes begin
// the little-endian word w (the string's bytes and what follows them), with
// no byte below 0x20 (strStops stops there). Such a string is its bytes as
// a word, zero past its end: the key of the intern table, where it is
// found again when the column has few distinct values.
func (d *Decoder) strWord(b []byte, w uint64) string {
	if d.alias {
		return unsafe.String(unsafe.SliceData(b), len(b))
	}
	n := len(b)
	key := w & (1<<(8*n) - 1)
	if d.intern == nil {
		d.intern = new([internSize]interned)
	}
	e := &d.intern[(key*0x9e3779b97f4a7c15)>>(64-8)&(internSize-1)]
	if e.w == key { // the same bytes and, none being 0, the same length
		return e.s
	}
	s := d.arena.word(w, n)
	e.w, e.s = key, s
	return s
}

// strWords is str for a string b of eight to fifteen bytes whose bytes
// begin the little-endian words w1, w2.
func (d *Decoder) strWords(b []byte, w1, w2 uint64) string {
	if d.alias {
		return unsafe.String(unsafe.SliceData(b), len(b))
	}
	return d.arena.words(w1, w2, len(b))
}

// arenaChunk is the size of the arena's chunks. Strings longer than a
// quarter of it get their own allocation.
const arenaChunk = 16 << 10

// arena copies strings into chunks it never writes again below their
// length, so a string it returned keeps its bytes for as long as it lives.
type arena struct{ buf []byte }

func (a *arena) str(b []byte) string {
	n := len(b)
	if n == 0 {
		return ""
	}
	if cap(a.buf)-len(a.buf) < n {
		if n > arenaChunk/4 {
			return string(b)
		}
		a.buf = make([]byte, 0, arenaChunk)
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return unsafe.String(&a.buf[start], n)
}

// word is str for the n < 8 low-order bytes of w (little-endian): it
// stores the whole word, whose bytes past the n-th lie beyond every string
// returned so far and are overwritten by the next.
func (a *arena) word(w uint64, n int) string {
	if n == 0 {
		return ""
	}
	if cap(a.buf)-len(a.buf) < 8 {
		a.buf = make([]byte, 0, arenaChunk)
	}
	start := len(a.buf)
	binary.LittleEndian.PutUint64(a.buf[start:start+8], w)
	a.buf = a.buf[:start+n]
	return unsafe.String(&a.buf[start], n)
}

// words is word for the 8 <= n < 16 low-order bytes of w1, w2.
func (a *arena) words(w1, w2 uint64, n int) string {
	if cap(a.buf)-len(a.buf) < 16 {
		a.buf = make([]byte, 0, arenaChunk)
	}
	start := len(a.buf)
	dst := (*[16]byte)(a.buf[start : start+16])
	binary.LittleEndian.PutUint64(dst[:8], w1)
	binary.LittleEndian.PutUint64(dst[8:], w2)
	a.buf = a.buf[:start+n]
	return unsafe.String(&a.buf[start], n)
}

// decodeOrdered is the fast path: it reads a value whose keys are exactly
// the payload columns in the program's order (the declared order, or the
// order learn took from the records), spaced either as compact encoders
// write ({"a":1,"b":2}) or as Python's json.dumps does ({"a": 1, "b": 2}),
// with values each column's fast parser takes, and appends the payload
// columns to out. It returns false, with out as it was, at the first byte
// off that shape: the general path then decides the record from the start.
// When it returns true, the general path would have accepted the record
// with the same values: the literals between values are the exact JSON
// grammar of that shape, and each value is parsed by the same parser.
//
// It runs the program New derived from the declared columns (d.steps, one
// per spacing): one loop, a switch on each column's kind, and the common
// shape of each value read in line from a word or two (a string of up to
// seven ASCII bytes, shortInt's integers, shortFloat's floats), so that a
// record of that shape makes no call but to copy its strings. The byte that
// ends a number in line is the next literal's first (',' or '}'), which
// the literal compare checks; other shapes go to the full parsers.
func (d *Decoder) decodeOrdered(b []byte, out *types.Batch) bool {
	// The compact literal of the first field is a prefix of the spaced one:
	// the byte after it tells the spacing.
	steps := d.steps[0]
	if !steps[0].lit.at(b, 0) {
		return false
	}
	i := steps[0].lit.n
	if i < len(b) && b[i] == ' ' {
		steps = d.steps[1]
		i++
	}
	cols := out.Cols
	k := 0
	for {
		s := &steps[k]
		if i >= len(b) {
			goto fail
		}
		v := cols[s.col]
		c := b[i]
		if c == 'n' {
			if s.notNull || !hasLiteral(b, i, "null") {
				goto fail
			}
			v.AppendNull()
			i += 4
		} else {
			switch s.kind {
			case types.String:
				if c != '"' {
					goto fail
				}
				i++
				if len(b)-i >= 8 {
					// A string of up to fifteen bytes of printable ASCII,
					// read and copied as one word or two.
					w1 := binary.LittleEndian.Uint64(b[i:])
					if stops := strStops(w1); stops != 0 {
						n := bits.TrailingZeros64(stops) >> 3
						if b[i+n] == '"' {
							v.Str = append(v.Str, d.strWord(b[i:i+n], w1))
							i += n + 1
							break
						}
					} else if len(b)-i >= 16 {
						w := (*[16]byte)(b[i : i+16])
						w2 := binary.LittleEndian.Uint64(w[8:])
						if stops := strStops(w2); stops != 0 {
							n := bits.TrailingZeros64(stops) >> 3
							if w[8+n&7] == '"' {
								v.Str = append(v.Str, d.strWords(b[i:i+8+n], w1, w2))
								i += 8 + n + 1
								break
							}
						}
					}
				}
				end, esc := scanString(b, i)
				if end < 0 || esc {
					goto fail
				}
				v.Str = append(v.Str, d.str(b[i:end]))
				i = end + 1
			case types.Bigint, types.Int:
				// shortInt's shape, in line; the byte after the digits is
				// the next literal's first, ',' or '}', checked below.
				if len(b)-i >= 16 {
					w := (*[16]byte)(b[i : i+16])
					x1 := binary.LittleEndian.Uint64(w[:8]) ^ asciiZeros
					x2 := binary.LittleEndian.Uint64(w[8:]) ^ asciiZeros
					if n := digitRun(x2); nonDigits(x1) == 0 && w[0] != '0' && n < 8 && s.kind == types.Bigint {
						v.I64 = append(v.I64, int64(eightDigits(x1)*pow10u[n&7]+digitsValue(x2, n)))
						i += 8 + n
						break
					}
				}
				x, end, ok := parseInt(b, i)
				if !ok || (s.kind == types.Int && x != int64(int32(x))) {
					goto fail
				}
				v.I64 = append(v.I64, x)
				i = end
			case types.Double:
				// shortFloat's shape, in line; as for integers, the next
				// literal checks the byte after the fraction.
				if len(b)-i >= 9 {
					// shortFloat's test, in line.
					x, neg := floatWord((*[9]byte)(b[i : i+9]))
					stops := nonDigits(x)
					dot := bits.TrailingZeros64(stops) >> 3
					end := bits.TrailingZeros64(stops&(stops-1)) >> 3
					if uint(dot-1) < 6 && uint(end-dot-2) < uint(6-dot) && byte(x>>(8*dot)) == '.'^'0' && (dot == 1 || byte(x) != 0) {
						f := float64(digitsValue(withoutDot(x, dot), end-1)) / pow10[(end-dot-1)&7]
						if neg {
							f, i = -f, i+1
						}
						v.F64 = append(v.F64, f)
						i += end
						break
					}
				}
				if !isNumberStart(c) {
					goto fail
				}
				x, end := parseFloat(b, i)
				if end < 0 {
					goto fail
				}
				v.F64 = append(v.F64, x)
				i = end
			case types.Boolean:
				switch {
				case hasLiteral(b, i, "true"):
					v.Bool = append(v.Bool, true)
					i += 4
				case hasLiteral(b, i, "false"):
					v.Bool = append(v.Bool, false)
					i += 5
				default:
					goto fail
				}
			default:
				x, end := d.fastOther(s.field, b, i)
				if end < 0 {
					goto fail
				}
				v.I64 = append(v.I64, x)
				i = end
			}
			if v.Null != nil {
				v.Null = append(v.Null, false)
			}
		}
		if k++; k == len(steps) {
			break
		}
		// literal.at, with the common cases in line.
		l := &steps[k].lit
		switch {
		case len(b)-i >= 16 && l.n <= 16:
			if !l.at16((*[16]byte)(b[i : i+16])) {
				goto fail
			}
		case len(b)-i >= 8 && l.n <= 8:
			if binary.LittleEndian.Uint64(b[i:])&l.mask[0] != l.word[0] {
				goto fail
			}
		default:
			if !l.atSlow(b, i) {
				goto fail
			}
		}
		i += l.n
	}
	if i < len(b) && b[i] == '}' && (i+1 == len(b) || skipWS(b, i+1) == len(b)) {
		return true
	}
fail:
	d.rollback(out, k)
	return false
}

// fastOther reads a DECIMAL or TIMESTAMP value for the fast path, in the
// shapes it takes (a JSON number or, for a DECIMAL, a string; a TIMESTAMP's
// string; strings without escapes), and returns its I64 value and end, or
// end -1.
func (d *Decoder) fastOther(f *field, b []byte, i int) (int64, int) {
	switch f.kind {
	case types.Decimal:
		if b[i] == '"' {
			// A decimal as a string (Spark reads "12.50"), without
			// escapes: readSlot's reading of it.
			end, esc := scanString(b, i+1)
			if end < 0 || esc {
				return 0, -1
			}
			x, ok := parseDecimal(b[i+1:end], f.prec, f.scale, true)
			if !ok {
				return 0, -1
			}
			return x, end + 1
		}
		if !isNumberStart(b[i]) {
			return 0, -1
		}
		_, end := scanNumber(b, i)
		if end < 0 {
			return 0, -1
		}
		x, ok := parseDecimal(b[i:end], f.prec, f.scale, false)
		if !ok {
			return 0, -1
		}
		return x, end
	case types.Timestamp:
		if b[i] != '"' {
			return 0, -1
		}
		end, esc := scanString(b, i+1)
		if end < 0 || esc {
			return 0, -1
		}
		x, ok := parseTimestamp(b[i+1 : end])
		if !ok {
			return 0, -1
		}
		return x, end + 1
	}
	return 0, -1
}

// rollback takes the row being appended out of the program's first k
// payload columns (and out of column k, which may hold it without its null
// flag).
func (d *Decoder) rollback(out *types.Batch, k int) {
	n := out.N
	for _, s := range d.steps[0][:min(k+1, len(d.steps[0]))] {
		f := s.field
		v := out.Cols[f.col]
		switch {
		case f.kind == types.String:
			v.Str = v.Str[:n]
		case f.kind == types.Boolean:
			v.Bool = v.Bool[:n]
		case f.kind == types.Double:
			v.F64 = v.F64[:n]
		default:
			v.I64 = v.I64[:n]
		}
		if v.Null != nil {
			v.Null = v.Null[:n]
		}
	}
}

// literal is the constant text before a value on the fast path. One of up
// to 8 bytes compares with one masked word load when 8 bytes are left to
// read, one of up to 16 with two when 16 are; otherwise, and for longer
// ones, it compares as a string.
type literal struct {
	s    string
	word [2]uint64 // the bytes of s, little-endian, zero past its end
	mask [2]uint64 // 0xff over the bytes of s
	n    int
}

func newLiteral(s string) literal {
	l := literal{s: s, n: len(s)}
	if len(s) <= 16 {
		var buf, ones [16]byte
		copy(buf[:], s)
		for k := range len(s) {
			ones[k] = 0xff
		}
		for k := range 2 {
			l.word[k] = binary.LittleEndian.Uint64(buf[8*k:])
			l.mask[k] = binary.LittleEndian.Uint64(ones[8*k:])
		}
	}
	return l
}

// at reports whether b holds the literal at i, which must be in [0, len(b)].
func (l *literal) at(b []byte, i int) bool {
	switch {
	case len(b)-i >= 16 && l.n <= 16:
		return l.at16((*[16]byte)(b[i : i+16]))
	case len(b)-i >= 8 && l.n <= 8:
		return binary.LittleEndian.Uint64(b[i:])&l.mask[0] == l.word[0]
	}
	return l.atSlow(b, i)
}

// at16 is at with 16 bytes to read.
func (l *literal) at16(w *[16]byte) bool {
	return binary.LittleEndian.Uint64(w[:8])&l.mask[0] == l.word[0] &&
		binary.LittleEndian.Uint64(w[8:])&l.mask[1] == l.word[1]
}

func (l *literal) atSlow(b []byte, i int) bool {
	return len(b)-i >= l.n && string(b[i:i+l.n]) == l.s
}

// slot is what the general path read for one payload column.
type slot struct {
	state  slotState
	detail string // slotBad: what is wrong
	reason string // slotBad: the dead-letter reason (wrong_type, out_of_range)
	i      int64  // BIGINT, INT, DECIMAL, TIMESTAMP
	f      float64
	b      bool
	s      []byte // STRING: into the value or into Decoder.scratch
}

type slotState uint8

const (
	slotAbsent slotState = iota
	slotNull
	slotValue
	slotBad
)

// decodeGeneral reads any value with the exact JSON grammar into d.slots,
// and returns why the record is refused, or nil.
func (d *Decoder) decodeGeneral(b []byte) *Reject {
	for k := range d.slots {
		d.slots[k].state = slotAbsent
	}
	d.scratch = d.scratch[:0]
	d.seen = d.seen[:0]
	n := len(b)
	i := skipWS(b, 0)
	switch {
	case i < n && b[i] == '{':
		i = d.scanObject(b, i)
	case i < n:
		if i = skipValue(b, i, 0); i >= 0 && skipWS(b, i) == n {
			return &Reject{Reason: ReasonNotObject, Detail: "record value is JSON but not an object"}
		}
		i = -1
	default:
		i = -1
	}
	if i < 0 || skipWS(b, i) != n {
		if !utf8.Valid(b) {
			return &Reject{Reason: ReasonInvalidUTF8, Detail: "record value is not valid UTF-8"}
		}
		return &Reject{Reason: ReasonMalformedJSON, Detail: "record value is not one JSON value"}
	}
	for k := range d.fields {
		switch s, f := &d.slots[k], &d.fields[k]; s.state {
		case slotAbsent, slotNull:
			if f.notNull {
				return &Reject{Reason: ReasonMissingField, Field: f.name, Detail: "required field is missing or null"}
			}
		case slotBad:
			return &Reject{Reason: s.reason, Field: f.name, Detail: s.detail}
		}
	}
	return nil
}

// scanObject reads the object at i into d.slots and returns its end, or -1
// on a syntax error.
func (d *Decoder) scanObject(b []byte, i int) int {
	n := len(b)
	if i = skipWS(b, i+1); i < n && b[i] == '}' {
		return i + 1
	}
	next := 0 // the field expected next: keys usually come in declared order
	for {
		if i >= n || b[i] != '"' {
			return -1
		}
		end, esc := scanString(b, i+1)
		if end < 0 {
			return -1
		}
		key := b[i+1 : end]
		if esc {
			d.keyBuf = appendUnescaped(d.keyBuf[:0], key)
			key = d.keyBuf
		}
		k := d.lookup(key, next)
		d.seen = append(d.seen, k)
		if i = skipWS(b, end+1); i >= n || b[i] != ':' {
			return -1
		}
		i = skipWS(b, i+1)
		if k >= 0 {
			i, next = d.readSlot(k, b, i), k+1
		} else {
			i = skipValue(b, i, 1)
		}
		if i < 0 {
			return -1
		}
		if i = skipWS(b, i); i >= n {
			return -1
		}
		if b[i] == '}' {
			return i + 1
		}
		if b[i] != ',' {
			return -1
		}
		i = skipWS(b, i+1)
	}
}

// keyHash hashes a key by its length and its first and last bytes, so
// that lookup compares a key with at most one declared name.
func keyHash[S string | []byte](key S) uint8 {
	n := len(key)
	if n == 0 {
		return 0
	}
	return uint8(n*7 + int(key[0])*3 + int(key[n-1]))
}

// lookup returns the payload column named key, or -1; next is tried first.
func (d *Decoder) lookup(key []byte, next int) int {
	if next < len(d.fields) && string(key) == d.fields[next].name {
		return next
	}
	return d.lookupHash(key)
}

// lookupHash is lookup without the hint.
func (d *Decoder) lookupHash(key []byte) int {
	if !d.collide {
		if k := int(d.byHash[keyHash(key)]) - 1; k >= 0 && string(key) == d.fields[k].name {
			return k
		}
		return -1
	}
	for k := range d.fields {
		if string(key) == d.fields[k].name {
			return k
		}
	}
	return -1
}

// readSlot reads the value at i for payload column k into its slot,
// replacing what an earlier occurrence of the key left there, and returns
// its end, or -1 on a syntax error. A value of a type the column cannot
// hold is still read to its end, exactly.
func (d *Decoder) readSlot(k int, b []byte, i int) int {
	s, f := &d.slots[k], &d.fields[k]
	if i >= len(b) {
		return -1
	}
	c := b[i]
	if c == 'n' {
		if !hasLiteral(b, i, "null") {
			return -1
		}
		s.state = slotNull
		return i + 4
	}
	switch f.kind {
	case types.String:
		if c == '"' {
			end, esc := scanString(b, i+1)
			if end < 0 {
				return -1
			}
			s.state, s.s = slotValue, d.unescaped(b[i+1:end], esc)
			return end + 1
		}
	case types.Bigint, types.Int:
		if isNumberStart(c) {
			x, end, ok := parseInt(b, i)
			switch {
			case end < 0:
				return -1
			case !ok && isInteger(b[i:end]):
				s.outOfRange("%s does not fit a BIGINT", b[i:end])
			case !ok:
				s.bad("want an integer, got %s", b[i:end])
			case f.kind == types.Int && x != int64(int32(x)):
				s.outOfRange("%d does not fit an INT", x)
			default:
				s.state, s.i = slotValue, x
			}
			return end
		}
	case types.Double:
		if isNumberStart(c) {
			x, end := parseFloat(b, i)
			if end >= 0 {
				s.state, s.f = slotValue, x
			}
			return end
		}
	case types.Boolean:
		switch {
		case hasLiteral(b, i, "true"):
			s.state, s.b = slotValue, true
			return i + 4
		case hasLiteral(b, i, "false"):
			s.state, s.b = slotValue, false
			return i + 5
		}
	case types.Decimal:
		var lit []byte
		end, commas := -1, false
		switch {
		case isNumberStart(c):
			if _, end = scanNumber(b, i); end < 0 {
				return -1
			}
			lit = b[i:end]
		case c == '"':
			var esc bool
			if end, esc = scanString(b, i+1); end < 0 {
				return -1
			}
			lit, commas = d.unescaped(b[i+1:end], esc), true
			end++
		}
		if end >= 0 {
			if x, ok := parseDecimal(lit, f.prec, f.scale, commas); ok {
				s.state, s.i = slotValue, x
			} else {
				s.bad("%s is not a DECIMAL(%d,%d)", b[i:end], f.prec, f.scale)
			}
			return end
		}
	case types.Timestamp:
		switch {
		case c == '"':
			end, esc := scanString(b, i+1)
			if end < 0 {
				return -1
			}
			if x, ok := parseTimestamp(d.unescaped(b[i+1:end], esc)); ok {
				s.state, s.i = slotValue, x
			} else {
				s.bad("%s is not a timestamp", b[i:end+1])
			}
			return end + 1
		case isNumberStart(c):
			secs, end, ok := parseInt(b, i)
			if end < 0 {
				return -1
			}
			if x, ok2 := secondsToMicros(secs); ok && ok2 {
				s.state, s.i = slotValue, x
			} else {
				s.bad("%s is not a timestamp in seconds", b[i:end])
			}
			return end
		}
	}
	// A JSON value of another type than the column reads.
	end := skipValue(b, i, 1)
	if end >= 0 {
		s.bad("want %s, got %s", want(f), jsonType(c))
	}
	return end
}

// unescaped returns a string body's text: the body itself, or its decoded
// escapes in d.scratch.
func (d *Decoder) unescaped(body []byte, esc bool) []byte {
	if !esc {
		return body
	}
	start := len(d.scratch)
	d.scratch = appendUnescaped(d.scratch, body)
	return d.scratch[start:]
}

func (s *slot) bad(format string, args ...any) {
	s.state, s.reason, s.detail = slotBad, ReasonWrongType, fmt.Sprintf(format, args...)
}

// outOfRange marks an integer the column's type cannot hold.
func (s *slot) outOfRange(format string, args ...any) {
	s.state, s.reason, s.detail = slotBad, ReasonOutOfRange, fmt.Sprintf(format, args...)
}

// isInteger reports whether a JSON number has neither fraction nor
// exponent.
func isInteger(num []byte) bool {
	for _, c := range num {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

func want(f *field) string {
	switch f.kind {
	case types.String:
		return "a string"
	case types.Boolean:
		return "a boolean"
	case types.Int, types.Bigint:
		return "an integer"
	case types.Double:
		return "a number"
	case types.Decimal:
		return "a number"
	}
	return "a timestamp string or integer"
}

func jsonType(c byte) string {
	switch c {
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "a number"
}

// appendSlots appends the slots read by decodeGeneral as one row.
func (d *Decoder) appendSlots(out *types.Batch) {
	for k := range d.fields {
		s, f := &d.slots[k], &d.fields[k]
		v := out.Cols[f.col]
		if s.state != slotValue {
			v.AppendNull()
			continue
		}
		switch f.kind {
		case types.String:
			v.AppendString(d.str(s.s))
		case types.Boolean:
			v.AppendBool(s.b)
		case types.Double:
			v.AppendFloat(s.f)
		default:
			v.AppendInt(s.i)
		}
	}
}
