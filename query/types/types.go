// Package types holds the engine's data model: Spark's SQL types, typed
// column vectors and batches of rows. Every other query package speaks it.
//
// Representation (fixed, relied on by every operator):
//   - STRING: Vector.Str, Go strings (a decoder may alias one buffer per batch).
//   - BOOLEAN: Vector.Bool.
//   - BIGINT, INT: Vector.I64.
//   - DOUBLE: Vector.F64.
//   - DECIMAL(p,s) with p <= 18: Vector.I64, the unscaled value (12.34 as
//     DECIMAL(10,2) is 1234).
//   - TIMESTAMP: Vector.I64, microseconds since the epoch, UTC (Spark's and
//     Delta's precision).
//   - DATE: Vector.I64, days since 1970-01-01 (proleptic Gregorian), within
//     the int32 range as Spark's DateType.
//
// Nulls: Vector.Null is nil when the vector holds no null; otherwise
// Null[i] says row i is null and the value slot holds the zero value.
package types

import (
	"fmt"
	"strings"
)

// Kind is a SQL type without its parameters.
type Kind uint8

// The kinds, named as Spark SQL names them.
const (
	Invalid Kind = iota
	String
	Boolean
	Int    // INT: 32-bit in Spark; stored as int64, range-checked on input
	Bigint // BIGINT (LONG)
	Double // DOUBLE (FLOAT is read as DOUBLE)
	Decimal
	Timestamp
	Null // the type of a bare NULL literal, before coercion
	Date // DATE: a calendar day (after Null, so that earlier kinds keep their values)
)

// MaxDecimalPrecision is the largest DECIMAL precision the engine stores
// (in an int64). Spark allows 38; wider declarations are refused by name.
const MaxDecimalPrecision = 18

// Type is a SQL type: a kind, and for DECIMAL its precision and scale.
type Type struct {
	Kind             Kind
	Precision, Scale uint8 // DECIMAL only
}

// Convenience values for the parameterless types.
var (
	TString    = Type{Kind: String}
	TBoolean   = Type{Kind: Boolean}
	TInt       = Type{Kind: Int}
	TBigint    = Type{Kind: Bigint}
	TDouble    = Type{Kind: Double}
	TTimestamp = Type{Kind: Timestamp}
	TDate      = Type{Kind: Date}
	TNull      = Type{Kind: Null}
)

// DecimalOf returns DECIMAL(p,s); it panics on p or s out of range, so
// callers check user input with CheckDecimal first.
func DecimalOf(p, s int) Type {
	if err := CheckDecimal(p, s); err != nil {
		panic(err)
	}
	return Type{Kind: Decimal, Precision: uint8(p), Scale: uint8(s)}
}

// CheckDecimal reports whether DECIMAL(p,s) can be stored.
func CheckDecimal(p, s int) error {
	switch {
	case p < 1 || p > MaxDecimalPrecision:
		return fmt.Errorf("DECIMAL precision %d is out of range: this engine stores DECIMAL(1..%d, s)", p, MaxDecimalPrecision)
	case s < 0 || s > p:
		return fmt.Errorf("DECIMAL(%d,%d): the scale must be between 0 and the precision", p, s)
	}
	return nil
}

// String returns the type as Spark SQL writes it.
func (t Type) String() string {
	switch t.Kind {
	case String:
		return "STRING"
	case Boolean:
		return "BOOLEAN"
	case Int:
		return "INT"
	case Bigint:
		return "BIGINT"
	case Double:
		return "DOUBLE"
	case Decimal:
		return fmt.Sprintf("DECIMAL(%d,%d)", t.Precision, t.Scale)
	case Timestamp:
		return "TIMESTAMP"
	case Date:
		return "DATE"
	case Null:
		return "VOID"
	}
	return "INVALID"
}

// IsNumeric reports whether t is INT, BIGINT, DOUBLE or DECIMAL.
func (t Type) IsNumeric() bool {
	switch t.Kind {
	case Int, Bigint, Double, Decimal:
		return true
	}
	return false
}

// IsIntegral reports whether t is INT or BIGINT.
func (t Type) IsIntegral() bool { return t.Kind == Int || t.Kind == Bigint }

// UsesI64 reports whether a vector of t keeps its values in I64.
func (t Type) UsesI64() bool {
	switch t.Kind {
	case Int, Bigint, Decimal, Timestamp, Date:
		return true
	}
	return false
}

// ParseTypeName maps a Spark SQL type name (any case) without parameters to
// its type: STRING, BOOLEAN, INT/INTEGER, BIGINT/LONG, DOUBLE/FLOAT,
// TIMESTAMP, DATE. DECIMAL needs its parameters: see DecimalOf.
func ParseTypeName(name string) (Type, bool) {
	switch strings.ToUpper(name) {
	case "STRING", "VARCHAR", "TEXT":
		return TString, true
	case "BOOLEAN", "BOOL":
		return TBoolean, true
	case "INT", "INTEGER":
		return TInt, true
	case "BIGINT", "LONG":
		return TBigint, true
	case "DOUBLE", "FLOAT", "REAL":
		return TDouble, true
	case "TIMESTAMP":
		return TTimestamp, true
	case "DATE":
		return TDate, true
	}
	return Type{}, false
}

// Field is a named, typed column.
type Field struct {
	Name     string
	Type     Type
	Nullable bool
}

// Schema is an ordered list of fields. Names are matched without regard to
// case, as Spark's default (spark.sql.caseSensitive=false) does.
type Schema []Field

// Index returns the position of the field named name, or -1.
func (s Schema) Index(name string) int {
	for i, f := range s {
		if strings.EqualFold(f.Name, name) {
			return i
		}
	}
	return -1
}

// String renders the schema as "name TYPE, …".
func (s Schema) String() string {
	var b strings.Builder
	for i, f := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.Name)
		b.WriteByte(' ')
		b.WriteString(f.Type.String())
		if !f.Nullable {
			b.WriteString(" NOT NULL")
		}
	}
	return b.String()
}
