package deltaread

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Field is a top-level column of a table's schema. Type is the protocol's
// type name for a primitive ("string", "long", "timestamp",
// "decimal(10,2)"), and a compact rendering of a nested type:
// "struct<a:long,b:string>", "array<long>", "map<string,long>".
type Field struct {
	Name     string
	Type     string
	Nullable bool
}

func (f Field) String() string {
	null := ""
	if !f.Nullable {
		null = " not null"
	}
	return f.Name + " " + f.Type + null
}

// jsonField is a struct field of the schema serialization format: its type
// is a JSON string (a primitive) or an object (struct, array, map).
type jsonField struct {
	Name     *string         `json:"name"`
	Type     json.RawMessage `json:"type"`
	Nullable *bool           `json:"nullable"`
}

type jsonType struct {
	Type         string          `json:"type"`
	Fields       []jsonField     `json:"fields"`
	ElementType  json.RawMessage `json:"elementType"`
	KeyType      json.RawMessage `json:"keyType"`
	ValueType    json.RawMessage `json:"valueType"`
	ContainsNull *bool           `json:"containsNull"`
}

// parseSchema reads a schemaString: a struct type whose fields are the
// table's columns.
func parseSchema(s string) ([]Field, error) {
	var top jsonType
	if err := json.Unmarshal([]byte(s), &top); err != nil {
		return nil, err
	}
	if top.Type != "struct" {
		return nil, fmt.Errorf("the schema is a %q, not a struct", top.Type)
	}
	out := make([]Field, 0, len(top.Fields))
	seen := map[string]bool{}
	for _, f := range top.Fields {
		if f.Name == nil || f.Nullable == nil || f.Type == nil {
			return nil, fmt.Errorf("a field without name, type or nullable: %+v", f)
		}
		lower := strings.ToLower(*f.Name)
		if seen[lower] {
			return nil, fmt.Errorf("column %q twice (names are unique regardless of case)", *f.Name)
		}
		seen[lower] = true
		t, err := typeName(f.Type)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", *f.Name, err)
		}
		out = append(out, Field{Name: *f.Name, Type: t, Nullable: *f.Nullable})
	}
	return out, nil
}

// typeName renders a type of the schema serialization format.
func typeName(raw json.RawMessage) (string, error) {
	var prim string
	if err := json.Unmarshal(raw, &prim); err == nil {
		if prim == "" {
			return "", fmt.Errorf("empty type name")
		}
		return prim, nil
	}
	var t jsonType
	if err := json.Unmarshal(raw, &t); err != nil {
		return "", fmt.Errorf("type %s: %w", raw, err)
	}
	switch t.Type {
	case "struct":
		parts := make([]string, 0, len(t.Fields))
		for _, f := range t.Fields {
			if f.Name == nil {
				return "", fmt.Errorf("struct field without a name")
			}
			ft, err := typeName(f.Type)
			if err != nil {
				return "", err
			}
			parts = append(parts, *f.Name+":"+ft)
		}
		return "struct<" + strings.Join(parts, ",") + ">", nil
	case "array":
		e, err := typeName(t.ElementType)
		if err != nil {
			return "", fmt.Errorf("array: %w", err)
		}
		return "array<" + e + ">", nil
	case "map":
		k, err := typeName(t.KeyType)
		if err != nil {
			return "", fmt.Errorf("map key: %w", err)
		}
		v, err := typeName(t.ValueType)
		if err != nil {
			return "", fmt.Errorf("map value: %w", err)
		}
		return "map<" + k + "," + v + ">", nil
	}
	return "", fmt.Errorf("unknown nested type %q", t.Type)
}
