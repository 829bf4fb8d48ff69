// Package output renders query results the way Spark's sinks show them: a
// batch as Dataset.show prints it (the console sink), and rows as to_json
// writes them (the Kafka sink's values).
//
// Values are turned into text by the engine's own casts (query/expr): a
// cell is CAST(col AS STRING), so the console prints a value exactly as a
// query's CAST would (Spark's Dataset.show casts every column to a string
// too), and a JSON timestamp is date_format(col, to_json's default
// pattern). There is no second copy of the value formatting here.
package output

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/sensorlab/sensorlab/query/expr"
	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// Spark's Dataset.show defaults, which its console sink uses.
const (
	DefaultNumRows  = 20
	DefaultTruncate = 20
)

// jsonTimestamp is to_json's default timestampFormat.
const jsonTimestamp = "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"

// Formatter renders batches of one schema. It is not safe for concurrent
// use (compiled expressions keep scratch vectors).
type Formatter struct {
	schema types.Schema
	text   []expr.Expr // CAST(col AS STRING)
	json   []expr.Expr // the JSON value's text: CAST, or date_format for timestamps
	vecs   []types.Vector
	jvecs  []types.Vector
}

// NewFormatter prepares the rendering of batches of schema s.
func NewFormatter(s types.Schema) (*Formatter, error) {
	f := &Formatter{schema: s, vecs: make([]types.Vector, len(s)), jvecs: make([]types.Vector, len(s))}
	cols := make([]expr.Column, len(s))
	for i, fl := range s {
		cols[i] = expr.Column{Name: fmt.Sprintf("c%d", i), Type: fl.Type}
	}
	sc := &expr.Scope{Columns: cols}
	for i, fl := range s {
		ref := &sql.ColumnRef{Parts: []sql.Ident{{Name: fmt.Sprintf("c%d", i)}}}
		text, err := expr.Compile(&sql.Cast{X: ref, To: &sql.TypeName{Name: "STRING"}}, sc)
		if err != nil {
			return nil, fmt.Errorf("output: column %s (%s): %w", fl.Name, fl.Type, err)
		}
		f.text = append(f.text, text)
		js := text
		if fl.Type.Kind == types.Timestamp {
			js, err = expr.Compile(&sql.Call{Name: sql.Ident{Name: "date_format"},
				Args: []sql.Expr{ref, &sql.Literal{Kind: sql.LitString, Text: jsonTimestamp}}}, sc)
			if err != nil {
				return nil, fmt.Errorf("output: column %s: %w", fl.Name, err)
			}
		}
		f.json = append(f.json, js)
	}
	return f, nil
}

// Schema returns the schema the formatter renders.
func (f *Formatter) Schema() types.Schema { return f.schema }

// cells evaluates the text of every column of b.
func (f *Formatter) cells(b *types.Batch, exprs []expr.Expr, vecs []types.Vector) {
	for i, e := range exprs {
		vecs[i].Reset()
		e.Eval(b, &vecs[i])
	}
}

// Show renders b as Spark's Dataset.showString(numRows, truncate): a grid
// with a header, at most numRows rows, cells longer than truncate cut to
// truncate-3 characters plus "..." and right-aligned (truncate 0: never
// cut, left-aligned), NULL for nulls, a note when rows were left out, and
// an empty line at the end.
func (f *Formatter) Show(b *types.Batch, numRows, truncate int) string {
	shown := min(b.N, numRows)
	view := *b
	view.N = shown
	f.cells(&view, f.text, f.vecs)
	grid := make([][]string, 0, shown+1)
	header := make([]string, len(f.schema))
	for i, fl := range f.schema {
		header[i] = fl.Name
	}
	grid = append(grid, header)
	for r := 0; r < shown; r++ {
		row := make([]string, len(f.schema))
		for c := range f.schema {
			if f.vecs[c].IsNull(r) {
				row[c] = "NULL"
			} else {
				row[c] = f.vecs[c].Str[r]
			}
		}
		grid = append(grid, row)
	}
	widths := make([]int, len(f.schema))
	for i := range widths {
		widths[i] = 3
	}
	for _, row := range grid {
		for i, cell := range row {
			if truncate > 0 && utf8.RuneCountInString(cell) > truncate {
				if truncate < 4 {
					row[i] = string([]rune(cell)[:truncate])
				} else {
					row[i] = string([]rune(cell)[:truncate-3]) + "..."
				}
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(row[i]))
		}
	}
	var sep strings.Builder
	for _, w := range widths {
		sep.WriteByte('+')
		sep.WriteString(strings.Repeat("-", w))
	}
	sep.WriteString("+\n")
	var out strings.Builder
	out.WriteString(sep.String())
	for i, row := range grid {
		for j, cell := range row {
			out.WriteByte('|')
			pad := strings.Repeat(" ", widths[j]-utf8.RuneCountInString(cell))
			if truncate > 0 {
				out.WriteString(pad + cell)
			} else {
				out.WriteString(cell + pad)
			}
		}
		out.WriteString("|\n")
		if i == 0 {
			out.WriteString(sep.String())
		}
	}
	out.WriteString(sep.String())
	if b.N > numRows {
		rows := "rows"
		if numRows == 1 {
			rows = "row" // Spark's showString says "row" for one
		}
		fmt.Fprintf(&out, "only showing top %d %s\n", numRows, rows)
	}
	out.WriteByte('\n')
	return out.String()
}

// ConsoleBatch renders one batch as Spark's console sink prints it: the
// banner with the batch id, then Show.
func (f *Formatter) ConsoleBatch(batchID int64, b *types.Batch, numRows, truncate int) string {
	return fmt.Sprintf("-------------------------------------------\nBatch: %d\n-------------------------------------------\n", batchID) +
		f.Show(b, numRows, truncate)
}

// JSON calls fn with each row of b as to_json(struct(*)) writes it: an
// object of the columns in order, null fields left out (Spark's
// ignoreNullFields), numbers and booleans bare, strings, timestamps
// (yyyy-MM-dd'T'HH:mm:ss.SSSXXX, UTC) and dates quoted. The slice passed to
// fn is reused for the next row.
func (f *Formatter) JSON(b *types.Batch, fn func(row int, value []byte)) {
	f.cells(b, f.json, f.jvecs)
	var buf []byte
	for r := 0; r < b.N; r++ {
		buf = append(buf[:0], '{')
		first := true
		for c, fl := range f.schema {
			v := &f.jvecs[c]
			if v.IsNull(r) {
				continue
			}
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = appendJSONString(buf, fl.Name)
			buf = append(buf, ':')
			s := v.Str[r]
			switch fl.Type.Kind {
			case types.Int, types.Bigint, types.Double, types.Decimal, types.Boolean:
				if fl.Type.Kind == types.Double && (s == "NaN" || s == "Infinity" || s == "-Infinity") {
					buf = appendJSONString(buf, s) // Jackson quotes non-finite doubles
				} else {
					buf = append(buf, s...)
				}
			default:
				buf = appendJSONString(buf, s)
			}
		}
		buf = append(buf, '}')
		fn(r, buf)
	}
}

// appendJSONString appends s as a JSON string (RFC 8259 escapes; non-ASCII
// kept as UTF-8, as Jackson writes it).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
