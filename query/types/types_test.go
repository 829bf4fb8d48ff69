package types

import "testing"

func TestDateType(t *testing.T) {
	for _, name := range []string{"DATE", "date", "Date"} {
		got, ok := ParseTypeName(name)
		if !ok || got != TDate {
			t.Errorf("ParseTypeName(%q) = %v, %v; want DATE", name, got, ok)
		}
	}
	if TDate.String() != "DATE" || !TDate.UsesI64() || TDate.IsNumeric() {
		t.Errorf("DATE: String %q, UsesI64 %v, IsNumeric %v", TDate.String(), TDate.UsesI64(), TDate.IsNumeric())
	}
	v := NewVector(TDate, 2)
	v.AppendInt(19787)
	v.AppendNull()
	if v.Len() != 2 || v.I64[0] != 19787 || !v.IsNull(1) || v.I64[1] != 0 {
		t.Errorf("DATE vector: %+v", v)
	}
	// Kinds keep their values: a persisted kind number must not change meaning.
	for k, want := range map[Kind]uint8{Invalid: 0, String: 1, Boolean: 2, Int: 3, Bigint: 4, Double: 5, Decimal: 6, Timestamp: 7, Null: 8, Date: 9} {
		if uint8(k) != want {
			t.Errorf("kind %v = %d, want %d", Type{Kind: k}, k, want)
		}
	}
}
