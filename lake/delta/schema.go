package delta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// DataType is a column type of the schema serialization format (Spark's
// StructType JSON): a PrimitiveType, *StructType, *ArrayType or *MapType.
type DataType interface {
	// TypeName is the type's name: "long", "struct", "array", "map", ...
	TypeName() string
}

// PrimitiveType is a type written as a JSON string: "string", "long",
// "integer", "short", "byte", "float", "double", "boolean", "binary",
// "date", "timestamp", "timestamp_ntz", "decimal(p,s)", "variant". A name
// this package does not know is kept as is.
type PrimitiveType string

// The primitive types this package produces.
const (
	String       PrimitiveType = "string"
	Long         PrimitiveType = "long"
	Integer      PrimitiveType = "integer"
	Short        PrimitiveType = "short"
	Byte         PrimitiveType = "byte"
	Float        PrimitiveType = "float"
	Double       PrimitiveType = "double"
	Boolean      PrimitiveType = "boolean"
	Binary       PrimitiveType = "binary"
	Date         PrimitiveType = "date"
	Timestamp    PrimitiveType = "timestamp"
	TimestampNTZ PrimitiveType = "timestamp_ntz"
)

func (p PrimitiveType) TypeName() string { return string(p) }

// StructType is a struct: the table's schema, or a nested column.
type StructType struct {
	Fields []StructField
}

func (*StructType) TypeName() string { return "struct" }

// StructField is a column.
type StructField struct {
	Name     string
	Type     DataType
	Nullable bool
	// Metadata is the column's metadata map (delta.columnMapping.*,
	// delta.invariants, ...); written as {} when empty.
	Metadata map[string]any
}

// ArrayType is an array column.
type ArrayType struct {
	ElementType  DataType
	ContainsNull bool
}

func (*ArrayType) TypeName() string { return "array" }

// MapType is a map column.
type MapType struct {
	KeyType           DataType
	ValueType         DataType
	ValueContainsNull bool
}

func (*MapType) TypeName() string { return "map" }

// Field returns the top-level field called name.
func (s StructType) Field(name string) (StructField, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return StructField{}, false
}

// JSON returns the schema as a schemaString: Spark's compact StructType JSON.
func (s StructType) JSON() (string, error) {
	b, err := json.Marshal(&s)
	return string(b), err
}

func (s *StructType) MarshalJSON() ([]byte, error) {
	fields := make([]json.RawMessage, len(s.Fields))
	for i, f := range s.Fields {
		b, err := json.Marshal(f)
		if err != nil {
			return nil, err
		}
		fields[i] = b
	}
	return json.Marshal(struct {
		Type   string            `json:"type"`
		Fields []json.RawMessage `json:"fields"`
	}{"struct", fields})
}

func (f StructField) MarshalJSON() ([]byte, error) {
	t, err := marshalType(f.Type)
	if err != nil {
		return nil, fmt.Errorf("field %q: %w", f.Name, err)
	}
	md := f.Metadata
	if md == nil {
		md = map[string]any{}
	}
	return json.Marshal(struct {
		Name     string          `json:"name"`
		Type     json.RawMessage `json:"type"`
		Nullable bool            `json:"nullable"`
		Metadata map[string]any  `json:"metadata"`
	}{f.Name, t, f.Nullable, md})
}

func (a *ArrayType) MarshalJSON() ([]byte, error) {
	e, err := marshalType(a.ElementType)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		Type         string          `json:"type"`
		ElementType  json.RawMessage `json:"elementType"`
		ContainsNull bool            `json:"containsNull"`
	}{"array", e, a.ContainsNull})
}

func (m *MapType) MarshalJSON() ([]byte, error) {
	k, err := marshalType(m.KeyType)
	if err != nil {
		return nil, err
	}
	v, err := marshalType(m.ValueType)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		Type              string          `json:"type"`
		KeyType           json.RawMessage `json:"keyType"`
		ValueType         json.RawMessage `json:"valueType"`
		ValueContainsNull bool            `json:"valueContainsNull"`
	}{"map", k, v, m.ValueContainsNull})
}

func marshalType(t DataType) (json.RawMessage, error) {
	switch t := t.(type) {
	case PrimitiveType:
		return json.Marshal(string(t))
	case *StructType, *ArrayType, *MapType:
		return json.Marshal(t)
	case nil:
		return nil, fmt.Errorf("missing type")
	default:
		return nil, fmt.Errorf("unknown type %T", t)
	}
}

func (s *StructType) UnmarshalJSON(b []byte) error {
	t, err := unmarshalType(b)
	if err != nil {
		return err
	}
	st, ok := t.(*StructType)
	if !ok {
		return fmt.Errorf("schema is a %s, want a struct", t.TypeName())
	}
	*s = *st
	return nil
}

func unmarshalType(b json.RawMessage) (DataType, error) {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var name string
		if err := json.Unmarshal(b, &name); err != nil {
			return nil, err
		}
		return PrimitiveType(name), nil
	}
	var obj struct {
		Type              string            `json:"type"`
		Fields            []json.RawMessage `json:"fields"`
		ElementType       json.RawMessage   `json:"elementType"`
		ContainsNull      bool              `json:"containsNull"`
		KeyType           json.RawMessage   `json:"keyType"`
		ValueType         json.RawMessage   `json:"valueType"`
		ValueContainsNull bool              `json:"valueContainsNull"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, err
	}
	switch obj.Type {
	case "struct":
		st := &StructType{Fields: make([]StructField, 0, len(obj.Fields))}
		for i, raw := range obj.Fields {
			var f struct {
				Name     string          `json:"name"`
				Type     json.RawMessage `json:"type"`
				Nullable bool            `json:"nullable"`
				Metadata map[string]any  `json:"metadata"`
			}
			if err := json.Unmarshal(raw, &f); err != nil {
				return nil, fmt.Errorf("field %d: %w", i, err)
			}
			t, err := unmarshalType(f.Type)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", f.Name, err)
			}
			st.Fields = append(st.Fields, StructField{Name: f.Name, Type: t, Nullable: f.Nullable, Metadata: f.Metadata})
		}
		return st, nil
	case "array":
		e, err := unmarshalType(obj.ElementType)
		if err != nil {
			return nil, fmt.Errorf("array element: %w", err)
		}
		return &ArrayType{ElementType: e, ContainsNull: obj.ContainsNull}, nil
	case "map":
		k, err := unmarshalType(obj.KeyType)
		if err != nil {
			return nil, fmt.Errorf("map key: %w", err)
		}
		v, err := unmarshalType(obj.ValueType)
		if err != nil {
			return nil, fmt.Errorf("map value: %w", err)
		}
		return &MapType{KeyType: k, ValueType: v, ValueContainsNull: obj.ValueContainsNull}, nil
	case "":
		return nil, fmt.Errorf("type without a name: %s", b)
	default:
		// {"type":"variant"} and any future object-typed primitive.
		return PrimitiveType(obj.Type), nil
	}
}

// walkFields calls fn for every field, nested ones included, with its path.
func walkFields(s StructType, fn func(path []string, f StructField)) {
	var walk func(prefix []string, dt DataType)
	walk = func(prefix []string, dt DataType) {
		switch t := dt.(type) {
		case *StructType:
			for _, f := range t.Fields {
				p := append(cloneStrings(prefix), f.Name)
				fn(p, f)
				walk(p, f.Type)
			}
		case *ArrayType:
			walk(prefix, t.ElementType)
		case *MapType:
			walk(prefix, t.KeyType)
			walk(prefix, t.ValueType)
		}
	}
	walk(nil, &s)
}

func cloneStrings(p []string) []string { return append([]string(nil), p...) }

// SchemaFromParquet returns the Delta schema of a Parquet schema (a data
// file's, or parquet.SchemaOf(row type)): INT64 TIMESTAMP adjusted to UTC is
// timestamp (not adjusted: timestamp_ntz), INT32 DATE is date, STRING is
// string, other BYTE_ARRAY binary, INT(8/16) byte/short, DECIMAL
// decimal(p,s), LIST array, MAP map, other groups struct. A required field
// is not nullable.
func SchemaFromParquet(node parquet.Node) (StructType, error) {
	if node.Leaf() {
		return StructType{}, fmt.Errorf("delta: schema from parquet: root is a column, want a group")
	}
	t, err := groupType(node)
	if err != nil {
		return StructType{}, fmt.Errorf("delta: schema from parquet: %w", err)
	}
	return *t, nil
}

func groupType(node parquet.Node) (*StructType, error) {
	st := &StructType{}
	for _, f := range node.Fields() {
		t, err := parquetType(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
		if f.Repeated() { // a bare repeated field is a list of it
			t = &ArrayType{ElementType: t}
		}
		st.Fields = append(st.Fields, StructField{Name: f.Name(), Type: t, Nullable: !f.Required()})
	}
	return st, nil
}

func parquetType(node parquet.Node) (DataType, error) {
	if !node.Leaf() {
		switch logicalValue(node).(type) {
		case *format.ListType:
			elem, optional, err := listElement(node)
			if err != nil {
				return nil, err
			}
			t, err := parquetType(elem)
			if err != nil {
				return nil, err
			}
			return &ArrayType{ElementType: t, ContainsNull: optional}, nil
		case *format.MapType:
			kv := node.Fields()
			if len(kv) != 1 || len(kv[0].Fields()) != 2 {
				return nil, fmt.Errorf("MAP is not one repeated group of key and value")
			}
			k, v := kv[0].Fields()[0], kv[0].Fields()[1]
			kt, err := parquetType(k)
			if err != nil {
				return nil, err
			}
			vt, err := parquetType(v)
			if err != nil {
				return nil, err
			}
			return &MapType{KeyType: kt, ValueType: vt, ValueContainsNull: !v.Required()}, nil
		}
		return groupType(node)
	}
	typ := node.Type()
	lv := logicalValue(node)
	decimal := func(d *format.DecimalType) DataType {
		return PrimitiveType(fmt.Sprintf("decimal(%d,%d)", d.Precision, d.Scale))
	}
	switch typ.Kind() {
	case parquet.Boolean:
		return Boolean, nil
	case parquet.Int32:
		switch lt := lv.(type) {
		case *format.DateType:
			return Date, nil
		case *format.DecimalType:
			return decimal(lt), nil
		case *format.IntType:
			switch lt.BitWidth {
			case 8:
				return Byte, nil
			case 16:
				return Short, nil
			}
		}
		return Integer, nil
	case parquet.Int64:
		switch lt := lv.(type) {
		case *format.TimestampType:
			if lt.IsAdjustedToUTC {
				return Timestamp, nil
			}
			return TimestampNTZ, nil
		case *format.DecimalType:
			return decimal(lt), nil
		}
		return Long, nil
	case parquet.Int96:
		return Timestamp, nil
	case parquet.Float:
		return Float, nil
	case parquet.Double:
		return Double, nil
	case parquet.ByteArray, parquet.FixedLenByteArray:
		switch lt := lv.(type) {
		case *format.DecimalType:
			return decimal(lt), nil
		case *format.StringType, *format.EnumType, *format.JsonType:
			return String, nil
		}
		if ct := convertedType(node); ct != nil && *ct == deprecated.UTF8 {
			return String, nil
		}
		return Binary, nil
	}
	return nil, fmt.Errorf("unsupported parquet type %s", typ)
}

// logicalValue returns a node's logical type annotation, or nil.
func logicalValue(node parquet.Node) format.LogicalTypeValue {
	if lt := logicalType(node); lt != nil {
		return lt.Value
	}
	return nil
}

// logicalType returns a node's logical type, or nil. A group built in Go
// (parquet.Group) has no type of its own.
func logicalType(node parquet.Node) (lt *format.LogicalType) {
	defer func() {
		if recover() != nil {
			lt = nil
		}
	}()
	if t := node.Type(); t != nil {
		return t.LogicalType()
	}
	return nil
}

// listElement returns the element node of a LIST group, by the Parquet
// spec's backward-compatibility rules: the repeated child is the element
// (two-level lists) unless it is a group of one field not named "array" or
// "<list>_tuple", whose field is then the element (three-level lists, with
// whatever names the writer chose: list/element, list/item, bag/array).
func listElement(list parquet.Node) (elem parquet.Node, optional bool, err error) {
	fields := list.Fields()
	if len(fields) != 1 || !fields[0].Repeated() {
		return nil, false, fmt.Errorf("LIST group does not hold exactly one repeated field")
	}
	rep := fields[0]
	if !rep.Leaf() && len(rep.Fields()) == 1 && rep.Name() != "array" && !strings.HasSuffix(rep.Name(), "_tuple") {
		e := rep.Fields()[0]
		return e, !e.Required(), nil
	}
	return parquet.Required(rep), false, nil
}
