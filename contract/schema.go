package contract

import (
	"fmt"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Columns lists the leaf columns of a Parquet schema as readers see them.
func Columns(schema *parquet.Schema) []Column {
	var out []Column
	for _, path := range schema.Columns() {
		leaf, ok := schema.Lookup(path...)
		if !ok {
			continue
		}
		t := leaf.Node.Type()
		c := Column{Name: strings.Join(path, "."), Physical: t.Kind().String()}
		if lt := t.LogicalType(); lt != nil {
			c.Logical = lt.String()
		}
		out = append(out, c)
	}
	return out
}

// CheckColumns compares a file's columns with a wanted schema: names, physical
// and logical types, in order. It returns one error listing every difference.
func CheckColumns(got, want []Column) error {
	var diffs []string
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(got):
			diffs = append(diffs, fmt.Sprintf("column %d: missing, want %v", i, want[i]))
		case i >= len(want):
			diffs = append(diffs, fmt.Sprintf("column %d: unexpected %v", i, got[i]))
		case got[i] != want[i]:
			diffs = append(diffs, fmt.Sprintf("column %d: got %v, want %v", i, got[i], want[i]))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("schema mismatch:\n  %s", strings.Join(diffs, "\n  "))
	}
	return nil
}
