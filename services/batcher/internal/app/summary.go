package app

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/sensorlab/sensorlab/contract"
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
