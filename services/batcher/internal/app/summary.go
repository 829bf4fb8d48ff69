package app

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/query/types"
	"github.com/sensorlab/sensorlab/services/batcher/internal/consolidate"
)

// WriteSummary prints rows as a text table, one line per sensor and a total
// line: sensor, windows, events, avg temp, avg hum, ok.
func WriteSummary(w io.Writer, rows []contract.BatchRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "sensor\twindows\tevents\tavg temp\tavg hum\tok\t")
	var windows, events, ok int64
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.2f\t%d\t\n", r.SensorID, r.Ventanas, r.TotalEventos, r.AvgTempGlobal, r.AvgHumGlobal, r.OKTotal)
		windows += r.Ventanas
		events += r.TotalEventos
		ok += r.OKTotal
	}
	fmt.Fprintf(tw, "%d sensors\t%d\t%d\t\t\t%d\t\n", len(rows), windows, events, ok)
	return tw.Flush()
}

// writeOutput prints a run's rows: the seed's summary table when they are
// batch table rows, otherwise every column of every row.
func writeOutput(w io.Writer, res consolidate.Result) error {
	if res.Rows != nil || res.Output == nil {
		return WriteSummary(w, res.Rows)
	}
	out := res.Output
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, f := range out.Schema {
		fmt.Fprintf(tw, "%s\t", f.Name)
	}
	fmt.Fprintln(tw)
	for i := range out.N {
		for _, c := range out.Cols {
			fmt.Fprintf(tw, "%s\t", cell(c, i))
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(tw, "%d rows\t\n", out.N)
	return tw.Flush()
}

// cell renders row i of v as Spark's show() does.
func cell(v *types.Vector, i int) string {
	if v.IsNull(i) {
		return "NULL"
	}
	switch t := v.Type; t.Kind {
	case types.String:
		return v.Str[i]
	case types.Boolean:
		return strconv.FormatBool(v.Bool[i])
	case types.Double:
		return strconv.FormatFloat(v.F64[i], 'g', -1, 64)
	case types.Timestamp:
		return time.UnixMicro(v.I64[i]).UTC().Format("2006-01-02 15:04:05.999999")
	case types.Decimal:
		x := v.I64[i]
		sign := ""
		if x < 0 {
			sign, x = "-", -x
		}
		s := fmt.Sprintf("%0*d", int(t.Scale)+1, x)
		if t.Scale == 0 {
			return sign + s
		}
		return sign + s[:len(s)-int(t.Scale)] + "." + s[len(s)-int(t.Scale):]
	default:
		return strconv.FormatInt(v.I64[i], 10)
	}
}
