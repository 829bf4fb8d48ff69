// Package lakeio moves the engine's batches (query/types) in and out of a
// Delta table's files: the table schema as Delta writes it (Spark's
// StructType JSON, lake/delta) and Parquet data files as Spark writes them.
//
// Type mapping, both ways (Delta name ↔ engine type ↔ Parquet physical and
// logical type):
//
//	string        STRING         BYTE_ARRAY, STRING (UTF8)
//	boolean       BOOLEAN        BOOLEAN
//	integer       INT            INT32
//	long          BIGINT         INT64
//	double        DOUBLE         DOUBLE
//	decimal(p,s)  DECIMAL(p,s)   INT32 DECIMAL(p,s) when p <= 9, else INT64
//	timestamp     TIMESTAMP      INT64 TIMESTAMP(MICROS, isAdjustedToUTC)
//
// Reading also widens what Spark or other writers may have written: short
// and byte (INT32 INT(8|16)) to INT, float (FLOAT) to DOUBLE, INT32 to
// BIGINT, TIMESTAMP(MILLIS|NANOS) and INT96 to microseconds, decimals of a
// lower precision and the same scale (also FIXED_LEN_BYTE_ARRAY). Anything
// else is refused with the column's name and both types.
//
// Invariants: WriteParquet writes the same bytes for equal batches (no
// clock, no map order, fixed writer options); a batch written by
// WriteParquet and read back by ReadParquet with the same schema is equal
// to it, nulls included, value for value and bit for bit.
package lakeio

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/query/types"
)

// DeltaType returns the Delta (Spark) type name of t.
func DeltaType(t types.Type) (delta.PrimitiveType, error) {
	switch t.Kind {
	case types.String:
		return delta.String, nil
	case types.Boolean:
		return delta.Boolean, nil
	case types.Int:
		return delta.Integer, nil
	case types.Bigint:
		return delta.Long, nil
	case types.Double:
		return delta.Double, nil
	case types.Decimal:
		return delta.PrimitiveType(fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale)), nil
	case types.Timestamp:
		return delta.Timestamp, nil
	}
	return "", fmt.Errorf("type %s has no Delta type", t)
}

// DeltaSchema returns s as a Delta table schema: the same columns in the
// same order, nullable as declared.
func DeltaSchema(s types.Schema) (delta.StructType, error) {
	out := delta.StructType{Fields: make([]delta.StructField, len(s))}
	for i, f := range s {
		t, err := DeltaType(f.Type)
		if err != nil {
			return delta.StructType{}, fmt.Errorf("column %s: %w", f.Name, err)
		}
		out.Fields[i] = delta.StructField{Name: f.Name, Type: t, Nullable: f.Nullable}
	}
	return out, nil
}

// FromDelta returns the engine schema of a Delta table schema. A column
// whose type the engine lacks (date, binary, timestamp_ntz, nested types,
// decimals wider than types.MaxDecimalPrecision…) is an error naming the
// column and the type.
func FromDelta(s delta.StructType) (types.Schema, error) {
	out := make(types.Schema, len(s.Fields))
	for i, f := range s.Fields {
		t, err := engineType(f.Type)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.Name, err)
		}
		out[i] = types.Field{Name: f.Name, Type: t, Nullable: f.Nullable}
	}
	return out, nil
}

func engineType(dt delta.DataType) (types.Type, error) {
	if dt == nil {
		return types.Type{}, fmt.Errorf("no type")
	}
	name := strings.ToLower(strings.TrimSpace(dt.TypeName()))
	switch name {
	case "string":
		return types.TString, nil
	case "boolean":
		return types.TBoolean, nil
	case "integer", "short", "byte":
		return types.TInt, nil
	case "long":
		return types.TBigint, nil
	case "double", "float":
		return types.TDouble, nil
	case "timestamp":
		return types.TTimestamp, nil
	case "decimal":
		return types.DecimalOf(10, 0), nil // Spark's DECIMAL default
	}
	if inner, ok := strings.CutPrefix(name, "decimal("); ok {
		if inner, ok = strings.CutSuffix(inner, ")"); ok {
			ps, ss, ok := strings.Cut(inner, ",")
			p, err1 := strconv.Atoi(strings.TrimSpace(ps))
			s, err2 := strconv.Atoi(strings.TrimSpace(ss))
			if ok && err1 == nil && err2 == nil {
				if err := types.CheckDecimal(p, s); err != nil {
					return types.Type{}, fmt.Errorf("type %s: %w", name, err)
				}
				return types.DecimalOf(p, s), nil
			}
		}
	}
	return types.Type{}, fmt.Errorf("type %s is not supported by the query engine (it reads string, boolean, integer, short, byte, long, double, float, decimal(p,s) up to precision %d, timestamp)", name, types.MaxDecimalPrecision)
}
