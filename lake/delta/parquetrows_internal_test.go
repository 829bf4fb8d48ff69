package delta

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// listAs is a LIST-annotated group whose inner names are chosen: Spark and
// parquet-go write list/element, arrow-rs list/item, old parquet-avro
// bag/array or a two-level "array" list.
type listAs struct {
	parquet.Node // the standard list, for its LIST type
	group        parquet.Group
}

func (l listAs) Fields() []parquet.Field { return l.group.Fields() }

func threeLevel(repeated, element string) parquet.Node {
	return parquet.Optional(listAs{parquet.List(parquet.String()),
		parquet.Group{repeated: parquet.Repeated(parquet.Group{element: parquet.Optional(parquet.String())})}})
}

func twoLevel() parquet.Node {
	return parquet.Optional(listAs{parquet.List(parquet.String()), parquet.Group{"array": parquet.Repeated(parquet.String())}})
}

// TestAssemblerReadsListsWhateverTheirNames writes metaData.partitionColumns
// in each list layout the Parquet spec allows and reads it back: a reader
// that matched the names would read an empty or blank list without an error.
// Rows are written as column values with their levels, since parquet-go's
// own writer only builds three-level lists.
func TestAssemblerReadsListsWhateverTheirNames(t *testing.T) {
	layouts := map[string]struct {
		node    parquet.Node
		elemDef int // definition level of a present element
	}{
		"list/element":      {threeLevel("list", "element"), 4},
		"list/item":         {threeLevel("list", "item"), 4},
		"bag/array_element": {threeLevel("bag", "array_element"), 4},
		"two-level array":   {twoLevel(), 3},
	}
	for name, l := range layouts {
		t.Run(name, func(t *testing.T) {
			schema := parquet.NewSchema("spark_schema", parquet.Group{
				"metaData": parquet.Optional(parquet.Group{
					"id":               parquet.Optional(parquet.String()),
					"partitionColumns": l.node,
				}),
				"txn": parquet.Optional(parquet.Group{"appId": parquet.Optional(parquet.String())}),
			})
			str := func(s string) parquet.Value { return parquet.ValueOf(s) }
			null := parquet.Value{}
			// Columns: 0 metaData.id, 1 metaData.partitionColumns.<element>, 2 txn.appId.
			rows := []parquet.Row{
				{str("x").Level(0, 2, 0), str("date").Level(0, l.elemDef, 1), str("region").Level(1, l.elemDef, 1), null.Level(0, 0, 2)},
				{str("y").Level(0, 2, 0), null.Level(0, 2, 1), null.Level(0, 0, 2)}, // an empty list
				{null.Level(0, 0, 0), null.Level(0, 0, 1), str("q").Level(0, 2, 2)},
			}
			var buf bytes.Buffer
			w := parquet.NewWriter(&buf, schema)
			if _, err := w.WriteRows(rows); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			var got []map[string]any
			err := readParquetRows(bytes.NewReader(buf.Bytes()), int64(buf.Len()), []string{"metaData", "txn"}, func(m map[string]any) error {
				got = append(got, m)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := []map[string]any{
				{"metaData": map[string]any{"id": "x", "partitionColumns": []any{"date", "region"}}},
				{"metaData": map[string]any{"id": "y", "partitionColumns": []any{}}},
				{"txn": map[string]any{"appId": "q"}},
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("rows\n got %#v\nwant %#v", got, want)
			}
		})
	}
}
