package expr

import (
	"testing"

	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// octet_length counts UTF-8 bytes where length counts characters.
func TestOctetLength(t *testing.T) {
	b := &types.Batch{Schema: types.Schema{{Name: "s", Type: types.TString}}, N: 3,
		Cols: []*types.Vector{{Type: types.TString, Str: []string{"S001", "ñandú", ""}, Null: []bool{false, false, true}}}}
	sc := &Scope{Columns: []Column{{Name: "s", Type: types.TString}}}
	for _, c := range []struct {
		fn   string
		want []int64
	}{{"octet_length(s)", []int64{4, 7, 0}}, {"length(s)", []int64{4, 5, 0}}} {
		pe, err := sql.ParseExpr(c.fn)
		if err != nil {
			t.Fatal(err)
		}
		e, err := Compile(pe, sc)
		if err != nil {
			t.Fatal(err)
		}
		out := &types.Vector{}
		e.Eval(b, out)
		for i, w := range c.want[:2] {
			if out.I64[i] != w || out.IsNull(i) {
				t.Errorf("%s row %d = %d, want %d", c.fn, i, out.I64[i], w)
			}
		}
		if !out.IsNull(2) {
			t.Errorf("%s of NULL is not NULL", c.fn)
		}
	}
}
