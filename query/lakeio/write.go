package lakeio

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/sensorlab/sensorlab/query/types"
)

// ParquetNode returns the Parquet column of a field as Spark writes it
// (see the package doc): OPTIONAL when the field is nullable, REQUIRED
// otherwise.
func ParquetNode(f types.Field) (parquet.Node, error) {
	var n parquet.Node
	switch t := f.Type; t.Kind {
	case types.String:
		n = parquet.String()
	case types.Boolean:
		n = parquet.Leaf(parquet.BooleanType)
	case types.Int:
		n = parquet.Leaf(parquet.Int32Type)
	case types.Bigint:
		n = parquet.Leaf(parquet.Int64Type)
	case types.Double:
		n = parquet.Leaf(parquet.DoubleType)
	case types.Decimal:
		phys := parquet.Type(parquet.Int64Type)
		if t.Precision <= 9 {
			phys = parquet.Int32Type
		}
		n = parquet.Decimal(int(t.Scale), int(t.Precision), phys)
	case types.Timestamp:
		n = parquet.Timestamp(parquet.Microsecond)
	default:
		return nil, fmt.Errorf("column %s: type %s cannot be written to Parquet", f.Name, t)
	}
	if f.Nullable {
		return parquet.Optional(n), nil
	}
	return parquet.Required(n), nil
}

// ParquetSchema returns the Parquet schema of s, its columns in s's order
// (parquet.Group would sort them by name).
func ParquetSchema(s types.Schema) (*parquet.Schema, error) {
	g := make(orderedGroup, len(s))
	for i, f := range s {
		n, err := ParquetNode(f)
		if err != nil {
			return nil, err
		}
		g[i] = &namedField{Node: n, name: f.Name}
	}
	return parquet.NewSchema("spark_schema", g), nil
}

// orderedGroup is a Parquet group whose fields keep their order.
type orderedGroup []parquet.Field

func (g orderedGroup) ID() int                     { return 0 }
func (g orderedGroup) String() string              { return parquet.NewSchema("", g).String() }
func (g orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g orderedGroup) Optional() bool              { return false }
func (g orderedGroup) Repeated() bool              { return false }
func (g orderedGroup) Required() bool              { return true }
func (g orderedGroup) Leaf() bool                  { return false }
func (g orderedGroup) Fields() []parquet.Field     { return g }
func (g orderedGroup) Encoding() encoding.Encoding { return nil }
func (g orderedGroup) Compression() compress.Codec { return nil }

// GoType is a struct of the fields' Go types (parquet-go asks for it; this
// package never writes Go values through it).
func (g orderedGroup) GoType() reflect.Type {
	fields := make([]reflect.StructField, len(g))
	for i, f := range g {
		fields[i] = reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: f.GoType()}
	}
	return reflect.StructOf(fields)
}

type namedField struct {
	parquet.Node
	name string
}

func (f *namedField) Name() string { return f.name }

// Value is the field of a struct of orderedGroup.GoType.
func (f *namedField) Value(base reflect.Value) reflect.Value {
	return reflect.Value{}
}

// Codec returns the Parquet compression codec Spark names name
// (spark.sql.parquet.compression.codec, a Parquet writer's "compression"
// option): zstd, snappy (Spark's default), gzip, brotli, or none
// (uncompressed). zstd is its fastest level: an engine's output compresses
// about as well there, and its encoder tables are a quarter of the
// default level's. (lz4_raw is not offered: its pages do not round-trip
// through parquet-go 0.32.)
func Codec(name string) (compress.Codec, error) {
	switch strings.ToLower(name) {
	case "snappy":
		return &parquet.Snappy, nil
	case "zstd":
		return zstdFastest, nil
	case "gzip":
		return &parquet.Gzip, nil
	case "brotli":
		return &parquet.Brotli, nil
	case "none", "uncompressed":
		return &parquet.Uncompressed, nil
	}
	return nil, fmt.Errorf("compression %q is not a Parquet codec: use zstd, snappy, gzip, brotli or none", name)
}

var zstdFastest = &zstd.Codec{Level: zstd.SpeedFastest}

// Zstd is Codec("zstd").
var Zstd compress.Codec = zstdFastest

// writeChunk is how many rows are handed to a column writer at once.
const writeChunk = 4096

// parallelRows is the batch size from which WriteParquet encodes columns
// on several goroutines.
const parallelRows = 32 << 10

// WriteParquet writes b as one Parquet file: its schema's columns in order
// (see ParquetNode), compressed with codec (see Codec), one row group. Equal batches give
// equal bytes. A null in a NOT NULL column is an error naming it. A large
// batch's columns are encoded and compressed concurrently, on up to
// GOMAXPROCS goroutines; the file is the same.
func WriteParquet(w io.Writer, b *types.Batch, codec compress.Codec) error {
	schema, err := ParquetSchema(b.Schema)
	if err != nil {
		return err
	}
	if len(b.Cols) != len(b.Schema) {
		return fmt.Errorf("write parquet: %d columns for a schema of %d", len(b.Cols), len(b.Schema))
	}
	for c, f := range b.Schema {
		v := b.Cols[c]
		if v.Len() != b.N {
			return fmt.Errorf("write parquet: column %s has %d values for %d rows", f.Name, v.Len(), b.N)
		}
		if v.Type != f.Type {
			return fmt.Errorf("write parquet: column %s holds %s, its schema says %s", f.Name, v.Type, f.Type)
		}
		if !f.Nullable && v.Null != nil {
			if i := slices.Index(v.Null[:b.N], true); i >= 0 {
				return fmt.Errorf("write parquet: column %s is NOT NULL and row %d is null", f.Name, i)
			}
		}
	}
	pw := parquet.NewWriter(w, schema, parquet.Compression(codec))
	cws := pw.ColumnWriters()
	// Each column writer is written by one goroutine (a column's pages,
	// statistics and buffers are its own), columns taken in turn.
	workers := 1
	if b.N >= parallelRows {
		workers = min(runtime.GOMAXPROCS(0), len(b.Schema))
	}
	errs := make([]error, len(b.Schema))
	var next atomic.Int32
	work := func() {
		values := make([]parquet.Value, 0, min(b.N, writeChunk))
		for {
			c := int(next.Add(1)) - 1
			if c >= len(b.Schema) {
				return
			}
			errs[c] = writeColumn(cws[c], b.Schema[c], b.Cols[c], b.N, c, values)
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("write parquet: %w", err)
	}
	return nil
}

// writeColumn writes the n values of v to column c's writer and flushes
// its last page, values being scratch space.
func writeColumn(cw *parquet.ColumnWriter, f types.Field, v *types.Vector, n, c int, values []parquet.Value) error {
	def := 0
	if f.Nullable {
		def = 1
	}
	for lo := 0; lo < n; lo += writeChunk {
		values = appendValues(values[:0], v, lo, min(lo+writeChunk, n), def, c)
		if _, err := cw.WriteRowValues(values); err != nil {
			return fmt.Errorf("write parquet: column %s: %w", f.Name, err)
		}
	}
	if err := cw.Flush(); err != nil {
		return fmt.Errorf("write parquet: column %s: %w", f.Name, err)
	}
	return nil
}

// appendValues appends rows [lo, hi) of v to dst as Parquet values of
// its physical type (definition level def, column c), one loop per type.
// A string's value shares its bytes: the column writer copies them before
// WriteRowValues returns.
func appendValues(dst []parquet.Value, v *types.Vector, lo, hi, def, c int) []parquet.Value {
	null := parquet.NullValue().Level(0, 0, c)
	isNull := func(i int) bool { return v.Null != nil && v.Null[i] }
	switch t := v.Type; {
	case t.Kind == types.String:
		for i, s := range v.Str[lo:hi] {
			if isNull(lo + i) {
				dst = append(dst, null)
				continue
			}
			dst = append(dst, parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(s), len(s))).Level(0, def, c))
		}
	case t.Kind == types.Boolean:
		for i, x := range v.Bool[lo:hi] {
			if isNull(lo + i) {
				dst = append(dst, null)
				continue
			}
			dst = append(dst, parquet.BooleanValue(x).Level(0, def, c))
		}
	case t.Kind == types.Double:
		for i, x := range v.F64[lo:hi] {
			if isNull(lo + i) {
				dst = append(dst, null)
				continue
			}
			dst = append(dst, parquet.DoubleValue(x).Level(0, def, c))
		}
	case t.Kind == types.Int || t.Kind == types.Decimal && t.Precision <= 9:
		for i, x := range v.I64[lo:hi] {
			if isNull(lo + i) {
				dst = append(dst, null)
				continue
			}
			dst = append(dst, parquet.Int32Value(int32(x)).Level(0, def, c))
		}
	default: // BIGINT, TIMESTAMP, DECIMAL of 10 to 18 digits
		for i, x := range v.I64[lo:hi] {
			if isNull(lo + i) {
				dst = append(dst, null)
				continue
			}
			dst = append(dst, parquet.Int64Value(x).Level(0, def, c))
		}
	}
	return dst
}
