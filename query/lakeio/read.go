package lakeio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/sensorlab/sensorlab/query/types"
)

// readBufferSize is parquet-go's read size: the tail read on open and the
// buffer of each column chunk reader.
const readBufferSize = 256 << 10

// ReadParquet reads the columns of want from the Parquet file r (size
// bytes) into a batch of schema want. File columns are matched by name
// without regard to case, as Spark matches them; columns of the file that
// want does not name are never read or decompressed.
//
// Columns are decoded page by page from their column chunks: a plain or
// dictionary-encoded page of a numeric or string column is converted in
// bulk from its values buffer; other pages (booleans, INT96,
// FIXED_LEN_BYTE_ARRAY decimals) value by value. A STRING vector's values
// alias one string per page (or per dictionary).
//
// Errors name the file column: a column missing, repeated or nested, of a
// type that does not convert to the wanted one, or a null in a column want
// declares NOT NULL. parquet-go panics on some malformed files; that is
// returned as an error too.
func ReadParquet(r io.ReaderAt, size int64, want types.Schema) (b *types.Batch, err error) {
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, fmt.Errorf("parquet decoder failed: %v", p)
		}
	}()
	pf, err := parquet.OpenFile(r, size,
		parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true),
		parquet.OptimisticRead(true), parquet.ReadBufferSize(readBufferSize))
	if err != nil {
		return nil, fmt.Errorf("open parquet: %w", err)
	}
	cols, err := bindColumns(pf.Schema(), want)
	if err != nil {
		return nil, err
	}
	n := int(pf.NumRows())
	b = types.NewBatch(want, n)
	for i := range cols {
		cols[i].dst = b.Cols[i]
	}
	for _, rg := range pf.RowGroups() {
		chunks := rg.ColumnChunks()
		rows := int(rg.NumRows())
		for i := range cols {
			c := &cols[i]
			before := c.dst.Len()
			if err := c.readChunk(chunks[c.index]); err != nil {
				return nil, fmt.Errorf("column %s (%s): %w", c.name, c.fileType, err)
			}
			if got := c.dst.Len() - before; got != rows {
				return nil, fmt.Errorf("column %s: %d values for a row group of %d rows", c.name, got, rows)
			}
		}
	}
	b.N = n
	return b, nil
}

// conv is how a file column's values become the wanted type's.
type conv uint8

const (
	cString conv = iota + 1 // BYTE_ARRAY → Str
	cBool                   // BOOLEAN → Bool
	cInt32                  // INT32 → I64 (INT, BIGINT, DECIMAL)
	cInt64                  // INT64 → I64 (BIGINT, DECIMAL, TIMESTAMP(MICROS))
	cMillis                 // INT64 TIMESTAMP(MILLIS) → micros
	cNanos                  // INT64 TIMESTAMP(NANOS) → micros, floored
	cDouble                 // DOUBLE → F64
	cFloat                  // FLOAT → F64
	cInt96                  // INT96 timestamp → micros
	cFixed                  // FIXED_LEN_BYTE_ARRAY decimal → I64
)

// column reads one file column into one vector.
type column struct {
	name     string // as the file spells it
	fileType string // its Parquet type, for errors
	index    int    // its column chunk index
	conv     conv
	notNull  bool // want declares it NOT NULL
	dst      *types.Vector
	tmp      *types.Vector // a page's non-null values, when they must be scattered
	dict     parquet.Dictionary
	dictVals *types.Vector // dict's values, converted
	values   []parquet.Value
}

// bindColumns finds each wanted column in the file and checks that its
// type converts.
func bindColumns(s *parquet.Schema, want types.Schema) ([]column, error) {
	fields := s.Fields()
	cols := make([]column, len(want))
	var errs []error
	for i, f := range want {
		j := -1
		for k, ff := range fields {
			if strings.EqualFold(ff.Name(), f.Name) {
				j = k
				break
			}
		}
		if j < 0 {
			errs = append(errs, fmt.Errorf("column %q is missing from the file", f.Name))
			continue
		}
		ff := fields[j]
		if !ff.Leaf() || ff.Repeated() {
			errs = append(errs, fmt.Errorf("column %s is a nested or repeated column, want %s", ff.Name(), f.Type))
			continue
		}
		leaf, _ := s.Lookup(ff.Name())
		c := column{name: ff.Name(), fileType: ff.Type().String(), index: leaf.ColumnIndex, notNull: !f.Nullable}
		var ok bool
		c.conv, ok = convFor(ff.Type(), f.Type)
		if !ok {
			errs = append(errs, fmt.Errorf("column %s is %s in the file, which does not read as %s", ff.Name(), c.fileType, f.Type))
			continue
		}
		cols[i] = c
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cols, nil
}

// convFor says how a file column of type ft reads as t, if it does.
func convFor(ft parquet.Type, t types.Type) (conv, bool) {
	var lt *format.LogicalType
	func() {
		defer func() { _ = recover() }()
		lt = ft.LogicalType()
	}()
	var dec *format.DecimalType
	var ts *format.TimestampType
	var it *format.IntType
	var other bool
	if lt != nil {
		switch v := lt.Value.(type) {
		case *format.DecimalType:
			dec = v
		case *format.TimestampType:
			ts = v
		case *format.IntType:
			it = v
		case *format.StringType, *format.EnumType, *format.JsonType:
		case nil:
		default:
			other = true
		}
	}
	kind := ft.Kind()
	switch t.Kind {
	case types.String:
		if kind == parquet.ByteArray && dec == nil && !other {
			return cString, true
		}
	case types.Boolean:
		if kind == parquet.Boolean {
			return cBool, true
		}
	case types.Int:
		if kind == parquet.Int32 && dec == nil && !other && (it == nil || it.IsSigned) {
			return cInt32, true
		}
	case types.Bigint:
		if (kind == parquet.Int32 || kind == parquet.Int64) && dec == nil && ts == nil && !other && (it == nil || it.IsSigned || it.BitWidth < 64) {
			if kind == parquet.Int32 {
				if it != nil && !it.IsSigned {
					return 0, false // UINT32 would need unsigned widening
				}
				return cInt32, true
			}
			return cInt64, true
		}
	case types.Double:
		switch kind {
		case parquet.Double:
			return cDouble, lt == nil || lt.Value == nil
		case parquet.Float:
			return cFloat, lt == nil || lt.Value == nil
		}
	case types.Decimal:
		if dec == nil || int(dec.Scale) != int(t.Scale) || int(dec.Precision) > int(t.Precision) {
			return 0, false
		}
		switch kind {
		case parquet.Int32:
			return cInt32, true
		case parquet.Int64:
			return cInt64, true
		case parquet.FixedLenByteArray, parquet.ByteArray:
			return cFixed, true
		}
	case types.Timestamp:
		if kind == parquet.Int96 {
			return cInt96, true
		}
		if kind == parquet.Int64 && ts != nil {
			switch ts.Unit.Value.(type) {
			case *format.MicroSeconds:
				return cInt64, true
			case *format.MilliSeconds:
				return cMillis, true
			case *format.NanoSeconds:
				return cNanos, true
			}
		}
	}
	return 0, false
}

// readChunk appends the values of one column chunk to c.dst.
func (c *column) readChunk(cc parquet.ColumnChunk) (err error) {
	pages := cc.Pages()
	defer func() { err = errors.Join(err, pages.Close()) }()
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read page: %w", err)
		}
		err = c.readPage(p)
		parquet.Release(p)
		if err != nil {
			return err
		}
	}
}

// readPage appends the rows of page p to c.dst.
func (c *column) readPage(p parquet.Page) error {
	if len(p.RepetitionLevels()) > 0 {
		return errors.New("repeated values")
	}
	defs := p.DefinitionLevels()
	nulls := p.NumNulls()
	if nulls > 0 && c.notNull {
		return fmt.Errorf("a null value in a column read as NOT NULL")
	}
	// Non-null values go straight to dst unless they must be scattered
	// between nulls.
	out := c.dst
	if nulls > 0 || (c.dst.Null != nil && len(defs) > 0) {
		if c.tmp == nil {
			c.tmp = types.NewVector(c.dst.Type, int(p.NumValues()))
		}
		c.tmp.Reset()
		out = c.tmp
	}
	before := out.Len()
	if err := c.decode(p, out); err != nil {
		return err
	}
	got := out.Len() - before
	if out == c.dst {
		if want := p.NumValues() - nulls; int64(got) != want {
			return fmt.Errorf("page of %d values decoded %d", want, got)
		}
		if c.dst.Null != nil {
			for range got {
				c.dst.Null = append(c.dst.Null, false)
			}
		}
		return nil
	}
	return c.scatter(defs, got)
}

// scatter appends the page's rows to dst: c.tmp's values where the
// definition level is 1, nulls where it is 0.
func (c *column) scatter(defs []byte, got int) error {
	d, t := c.dst, c.tmp
	nonNull := 0
	for _, l := range defs {
		if l != 0 {
			nonNull++
		}
	}
	if nonNull != got {
		return fmt.Errorf("page of %d non-null values decoded %d", nonNull, got)
	}
	n := d.Len()
	if d.Null == nil {
		d.Null = make([]bool, n, n+len(defs))
	}
	k := 0
	for _, l := range defs {
		null := l == 0
		d.Null = append(d.Null, null)
		switch {
		case d.Str != nil || d.Type.Kind == types.String:
			s := ""
			if !null {
				s = t.Str[k]
			}
			d.Str = append(d.Str, s)
		case d.Type.Kind == types.Boolean:
			d.Bool = append(d.Bool, !null && t.Bool[k])
		case d.Type.Kind == types.Double:
			x := 0.0
			if !null {
				x = t.F64[k]
			}
			d.F64 = append(d.F64, x)
		default:
			var x int64
			if !null {
				x = t.I64[k]
			}
			d.I64 = append(d.I64, x)
		}
		if !null {
			k++
		}
	}
	return nil
}

// decode appends the non-null values of p to out (which has no nulls).
func (c *column) decode(p parquet.Page, out *types.Vector) error {
	if dict := p.Dictionary(); dict != nil {
		if c.conv == cBool || c.conv == cInt96 || c.conv == cFixed {
			return c.decodeGeneric(p, out)
		}
		if dict != c.dict {
			c.dictVals = types.NewVector(out.Type, dict.Len())
			if err := c.decode(dict.Page(), c.dictVals); err != nil {
				return fmt.Errorf("dictionary: %w", err)
			}
			c.dict = dict
		}
		dv := c.dictVals
		m := int32(dv.Len())
		data := p.Data()
		idx := data.Int32()
		for _, x := range idx {
			if x < 0 || x >= m {
				return fmt.Errorf("dictionary index %d out of %d values", x, m)
			}
		}
		switch {
		case out.Type.Kind == types.String:
			for _, x := range idx {
				out.Str = append(out.Str, dv.Str[x])
			}
		case out.Type.Kind == types.Double:
			for _, x := range idx {
				out.F64 = append(out.F64, dv.F64[x])
			}
		default:
			for _, x := range idx {
				out.I64 = append(out.I64, dv.I64[x])
			}
		}
		return nil
	}
	data := p.Data()
	switch c.conv {
	case cString:
		buf, offs := data.ByteArray()
		if len(offs) == 0 {
			return nil
		}
		s := string(buf[offs[0]:offs[len(offs)-1]])
		base := offs[0]
		for i := 0; i+1 < len(offs); i++ {
			out.Str = append(out.Str, s[offs[i]-base:offs[i+1]-base])
		}
	case cInt32:
		for _, x := range data.Int32() {
			out.I64 = append(out.I64, int64(x))
		}
	case cInt64:
		out.I64 = append(out.I64, data.Int64()...)
	case cMillis:
		for _, x := range data.Int64() {
			out.I64 = append(out.I64, x*1000)
		}
	case cNanos:
		for _, x := range data.Int64() {
			q := x / 1000
			if x%1000 < 0 {
				q--
			}
			out.I64 = append(out.I64, q)
		}
	case cDouble:
		out.F64 = append(out.F64, data.Double()...)
	case cFloat:
		for _, x := range data.Float() {
			out.F64 = append(out.F64, float64(x))
		}
	default:
		return c.decodeGeneric(p, out)
	}
	return nil
}

// decodeGeneric appends p's non-null values to out one parquet.Value at a
// time.
func (c *column) decodeGeneric(p parquet.Page, out *types.Vector) error {
	if c.values == nil {
		c.values = make([]parquet.Value, 512)
	}
	r := p.Values()
	for {
		k, err := r.ReadValues(c.values)
		for _, v := range c.values[:k] {
			if v.IsNull() {
				continue
			}
			if err := c.appendValue(v, out); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read values: %w", err)
		}
		if k == 0 {
			return errors.New("read values: no progress")
		}
	}
}

// julianUnixEpoch is the Julian day number of 1970-01-01.
const julianUnixEpoch = 2440588

func (c *column) appendValue(v parquet.Value, out *types.Vector) error {
	switch c.conv {
	case cString:
		out.Str = append(out.Str, string(v.ByteArray()))
	case cBool:
		out.Bool = append(out.Bool, v.Boolean())
	case cInt32:
		out.I64 = append(out.I64, int64(v.Int32()))
	case cInt64:
		out.I64 = append(out.I64, v.Int64())
	case cMillis:
		out.I64 = append(out.I64, v.Int64()*1000)
	case cNanos:
		x := v.Int64()
		q := x / 1000
		if x%1000 < 0 {
			q--
		}
		out.I64 = append(out.I64, q)
	case cDouble:
		out.F64 = append(out.F64, v.Double())
	case cFloat:
		out.F64 = append(out.F64, float64(v.Float()))
	case cInt96:
		i := v.Int96()
		nanos := int64(uint64(i[1])<<32 | uint64(i[0]))
		day := int64(i[2]) - julianUnixEpoch
		out.I64 = append(out.I64, day*86_400_000_000+nanos/1000)
	case cFixed:
		b := v.ByteArray()
		if len(b) > 8 {
			// Sign extension: the leading bytes must be all 0 or all 0xff.
			for _, x := range b[:len(b)-8] {
				if x != 0 && x != 0xff {
					return fmt.Errorf("decimal of %d bytes does not fit in 64 bits", len(b))
				}
			}
			b = b[len(b)-8:]
		}
		var buf [8]byte
		if len(b) > 0 && b[0]&0x80 != 0 {
			buf = [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		}
		copy(buf[8-len(b):], b)
		out.I64 = append(out.I64, int64(binary.BigEndian.Uint64(buf[:])))
	}
	return nil
}
