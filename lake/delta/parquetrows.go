package delta

import (
	"fmt"
	"io"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// rowAssembler turns the rows of a Parquet file into generic values,
// following the file's own schema: map[string]any for a group,
// []any for a LIST, map[string]any for a MAP, and int64, float64, bool or
// string for a column (nil for null). Lists and maps are recognised by the
// Parquet spec's rules, whatever names the writer gave their inner fields
// (list/element, list/item, bag/array, two-level lists, key_value or map),
// so a checkpoint written by Spark, delta-rs, DuckDB or parquet-go reads
// the same. (Reading into Go structs would match those inner names
// instead, and a list written as list/item comes back empty without an
// error.)
type rowAssembler struct {
	fields []topField
	cols   [][]parquet.Value // per leaf column: the current row's values
}

type topField struct {
	name        string
	node        parquet.Node
	first, last int // leaf column range [first, last)
}

// newRowAssembler prepares to assemble the named top-level fields of
// schema; fields the file does not have are left out.
func newRowAssembler(schema parquet.Node, want []string) *rowAssembler {
	a := &rowAssembler{}
	col := 0
	for _, f := range schema.Fields() {
		n := numLeaves(f)
		for _, w := range want {
			if f.Name() == w {
				a.fields = append(a.fields, topField{name: w, node: f, first: col, last: col + n})
			}
		}
		col += n
	}
	a.cols = make([][]parquet.Value, col)
	return a
}

func numLeaves(n parquet.Node) int {
	if n.Leaf() {
		return 1
	}
	total := 0
	for _, f := range n.Fields() {
		total += numLeaves(f)
	}
	return total
}

// row assembles one row: the wanted top-level fields that are not null.
func (a *rowAssembler) row(row parquet.Row) (map[string]any, error) {
	for i := range a.cols {
		a.cols[i] = a.cols[i][:0]
	}
	for _, v := range row {
		c := v.Column()
		if c < 0 || c >= len(a.cols) {
			return nil, fmt.Errorf("value of column %d in a schema of %d columns", c, len(a.cols))
		}
		a.cols[c] = append(a.cols[c], v)
	}
	out := map[string]any{}
	for _, f := range a.fields {
		cols := a.cols[f.first:f.last]
		for i, c := range cols {
			if len(c) == 0 {
				return nil, fmt.Errorf("%s: column %d has no value in this row", f.name, f.first+i)
			}
		}
		v, err := assemble(f.node, cols, 0, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		if v != nil {
			out[f.name] = v
		}
	}
	return out, nil
}

// assemble builds the value of a node that is not repeated, from its leaf
// columns' values for one instance of it. def and rep are the definition
// and repetition levels of its parent.
func assemble(n parquet.Node, cols [][]parquet.Value, def, rep int) (any, error) {
	if n.Optional() {
		def++
		if cols[0][0].DefinitionLevel() < def {
			return nil, nil
		}
	}
	if n.Leaf() {
		return leafValue(n, cols[0][0])
	}
	switch groupKind(n) {
	case deprecated.List:
		return assembleList(n, cols, def, rep)
	case deprecated.Map, deprecated.MapKeyValue:
		return assembleMap(n, cols, def, rep)
	}
	m := map[string]any{}
	off := 0
	for _, f := range n.Fields() {
		k := numLeaves(f)
		var v any
		var err error
		if f.Repeated() {
			v, err = assembleRepeated(f, cols[off:off+k], def, rep)
		} else {
			v, err = assemble(f, cols[off:off+k], def, rep)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
		m[f.Name()] = v
		off += k
	}
	return m, nil
}

// assembleRepeated builds the elements of a repeated node: a value with a
// repetition level at or below this node's depth starts a new element.
func assembleRepeated(n parquet.Node, cols [][]parquet.Value, def, rep int) ([]any, error) {
	def++
	rep++
	if cols[0][0].DefinitionLevel() < def {
		return []any{}, nil // no element
	}
	pos := make([]int, len(cols))
	sub := make([][]parquet.Value, len(cols))
	var out []any
	for {
		for j, c := range cols {
			start := pos[j]
			if start >= len(c) {
				if j > 0 {
					return nil, fmt.Errorf("columns disagree on the number of repeated values")
				}
				return out, nil
			}
			end := start + 1
			for end < len(c) && c[end].RepetitionLevel() > rep {
				end++
			}
			sub[j] = c[start:end]
			pos[j] = end
		}
		v, err := assembleElement(n, sub, def, rep)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

// assembleElement is assemble for one element of a repeated node (which is
// neither optional nor, at this level, repeated again).
func assembleElement(n parquet.Node, cols [][]parquet.Value, def, rep int) (any, error) {
	if n.Leaf() {
		return leafValue(n, cols[0][0])
	}
	return assemble(parquet.Required(n), cols, def, rep)
}

func assembleList(n parquet.Node, cols [][]parquet.Value, def, rep int) (any, error) {
	fields := n.Fields()
	if len(fields) != 1 || !fields[0].Repeated() {
		return nil, fmt.Errorf("LIST group does not hold one repeated field")
	}
	r := fields[0]
	elems, err := assembleRepeated(r, cols, def, rep)
	if err != nil {
		return nil, err
	}
	if threeLevel := !r.Leaf() && len(r.Fields()) == 1 && r.Name() != "array" && !strings.HasSuffix(r.Name(), "_tuple"); threeLevel {
		name := r.Fields()[0].Name()
		for i, e := range elems {
			elems[i] = e.(map[string]any)[name]
		}
	}
	return elems, nil
}

func assembleMap(n parquet.Node, cols [][]parquet.Value, def, rep int) (any, error) {
	fields := n.Fields()
	if len(fields) != 1 || !fields[0].Repeated() || len(fields[0].Fields()) != 2 {
		return nil, fmt.Errorf("MAP group does not hold one repeated group of key and value")
	}
	kv := fields[0]
	kName, vName := kv.Fields()[0].Name(), kv.Fields()[1].Name()
	elems, err := assembleRepeated(kv, cols, def, rep)
	if err != nil {
		return nil, err
	}
	m := make(map[string]any, len(elems))
	for _, e := range elems {
		pair := e.(map[string]any)
		m[fmt.Sprint(pair[kName])] = pair[vName]
	}
	return m, nil
}

// groupKind says whether a group is annotated LIST or MAP (by logical or
// converted type), or neither (-1).
func groupKind(n parquet.Node) deprecated.ConvertedType {
	switch logicalValue(n).(type) {
	case *format.ListType:
		return deprecated.List
	case *format.MapType:
		return deprecated.Map
	}
	if ct := convertedType(n); ct != nil {
		return *ct
	}
	return -1
}

func convertedType(n parquet.Node) (ct *deprecated.ConvertedType) {
	defer func() {
		if recover() != nil {
			ct = nil
		}
	}()
	if t := n.Type(); t != nil {
		return t.ConvertedType()
	}
	return nil
}

func leafValue(n parquet.Node, v parquet.Value) (any, error) {
	if v.IsNull() {
		return nil, nil
	}
	switch n.Type().Kind() {
	case parquet.Boolean:
		return v.Boolean(), nil
	case parquet.Int32:
		return int64(v.Int32()), nil
	case parquet.Int64:
		return v.Int64(), nil
	case parquet.Float:
		return float64(v.Float()), nil
	case parquet.Double:
		return v.Double(), nil
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return string(v.ByteArray()), nil
	}
	return nil, nil // INT96: no action field uses it
}

// readParquetRows calls fn with every row of a Parquet file, assembled.
func readParquetRows(r io.ReaderAt, size int64, want []string, fn func(map[string]any) error) error {
	f, err := parquet.OpenFile(r, size)
	if err != nil {
		return err
	}
	return readFileRows(f, want, fn)
}

// readFileRows calls fn with every row of an open Parquet file, assembled.
func readFileRows(f *parquet.File, want []string, fn func(map[string]any) error) error {
	a := newRowAssembler(f.Schema(), want)
	buf := make([]parquet.Row, 64)
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				m, aerr := a.row(row)
				if aerr != nil {
					_ = rows.Close()
					return aerr
				}
				if ferr := fn(m); ferr != nil {
					_ = rows.Close()
					return ferr
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				_ = rows.Close()
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	return nil
}
