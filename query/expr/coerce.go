package expr

import "github.com/sensorlab/sensorlab/query/types"

// Implicit conversions, as Spark 3.5's TypeCoercion does them in non-ANSI
// mode (spark.sql.ansi.enabled=false):
//
//   - widerType is findWiderCommonType (CASE, coalesce, IF, IN, greatest,
//     least, nvl): INT < BIGINT < DOUBLE; DECIMAL with an integral type
//     widens to a DECIMAL holding both (INT counts as DECIMAL(10,0), BIGINT
//     as DECIMAL(20,0)), capped at 18 digits; DECIMAL with DOUBLE gives
//     DOUBLE; DATE with TIMESTAMP gives TIMESTAMP; STRING with any other
//     type but BOOLEAN gives STRING; NULL takes the other type.
//   - cmpType is findCommonTypeForBinaryComparison: STRING against a
//     number is read as that number's type (as DOUBLE against a DECIMAL),
//     STRING against TIMESTAMP as TIMESTAMP, STRING against DATE as DATE
//     (spark.sql.legacy.castDatetimeToString is off), STRING against
//     BOOLEAN as BOOLEAN, DATE against TIMESTAMP as TIMESTAMP. INT, BIGINT
//     and DECIMAL are compared exactly without a conversion.
//   - implicitTo is ImplicitTypeCasts.implicitCast (function arguments):
//     any number to the number type a parameter wants, STRING to a number,
//     TIMESTAMP or DATE, DATE to TIMESTAMP and TIMESTAMP to DATE, any type
//     to STRING (Spark: any atomic type), NULL to anything.
//
// Arithmetic reads STRING operands as DOUBLE (Spark's PromoteStrings).

func widerType(a, b types.Type) (types.Type, bool) {
	switch {
	case a == b:
		return a, true
	case a.Kind == types.Null:
		return b, true
	case b.Kind == types.Null:
		return a, true
	case a.IsNumeric() && b.IsNumeric():
		return widerNumeric(a, b), true
	case isDatetime(a) && isDatetime(b):
		return types.TTimestamp, true // DATE with TIMESTAMP
	case a.Kind == types.String && b.Kind != types.Boolean,
		b.Kind == types.String && a.Kind != types.Boolean:
		return types.TString, true
	}
	return types.Type{}, false
}

func widerNumeric(a, b types.Type) types.Type {
	switch {
	case a.Kind == types.Double || b.Kind == types.Double:
		return types.TDouble
	case a.Kind == types.Decimal || b.Kind == types.Decimal:
		pa, sa := typeDec(a)
		pb, sb := typeDec(b)
		s := max(sa, sb)
		return boundedDecimal(max(pa-sa, pb-sb)+s, s)
	case a.Kind == types.Bigint || b.Kind == types.Bigint:
		return types.TBigint
	}
	return types.TInt
}

// typeDec is Spark's DecimalType.forType for a number type.
func typeDec(t types.Type) (p, s int) {
	switch t.Kind {
	case types.Decimal:
		return int(t.Precision), int(t.Scale)
	case types.Int:
		return 10, 0
	case types.Bigint:
		return 20, 0
	}
	return 0, 0
}

// cmpType returns the types the two sides of a comparison are converted to
// before they are compared.
func cmpType(a, b types.Type) (ta, tb types.Type, ok bool) {
	switch {
	case a == b:
		return a, b, true
	case a.Kind == types.Null:
		return b, b, true
	case b.Kind == types.Null:
		return a, a, true
	case isExact(a) && isExact(b):
		return a, b, true // INT, BIGINT, DECIMAL: compared exactly as they are
	case isDatetime(a) && isDatetime(b):
		return types.TTimestamp, types.TTimestamp, true // DATE with TIMESTAMP
	case a.IsNumeric() && b.IsNumeric():
		return types.TDouble, types.TDouble, true
	case a.Kind == types.String && b.Kind == types.Decimal,
		a.Kind == types.Decimal && b.Kind == types.String:
		return types.TDouble, types.TDouble, true
	case a.Kind == types.String && b.Kind != types.String:
		return b, b, true
	case b.Kind == types.String && a.Kind != types.String:
		return a, a, true
	}
	return a, b, false
}

func isExact(t types.Type) bool { return t.IsIntegral() || t.Kind == types.Decimal }

func isDatetime(t types.Type) bool { return t.Kind == types.Date || t.Kind == types.Timestamp }

// implicitOK reports whether Spark converts a value of type from to type to
// on its own when a function parameter wants to.
func implicitOK(from, to types.Type) bool {
	switch {
	case from == to, from.Kind == types.Null:
		return true
	case from.IsNumeric() && to.IsNumeric():
		return true
	case from.Kind == types.String && (to.IsNumeric() || isDatetime(to)):
		return true
	case isDatetime(from) && isDatetime(to):
		return true
	case to.Kind == types.String:
		return true
	}
	return false
}
