package sink

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sensorlab/sensorlab/contract"
)

// Spark's console sink defaults: numRows=20, truncate=true.
const (
	consoleMaxRows  = 20
	consoleTruncate = 20
)

var consoleHeader = []string{"win_start", "win_end", "sensor_id", "eventos", "avg_temp", "avg_hum", "ok_count"}

// ConsoleSink prints each batch as Spark's console sink does (the seed's
// update-mode console query): a banner with the batch id, then the rows as
// Dataset.show(20, truncate = true) formats them. Rows are printed in the
// order given.
type ConsoleSink struct {
	w io.Writer
}

// NewConsoleSink returns a console sink printing to w.
func NewConsoleSink(w io.Writer) *ConsoleSink { return &ConsoleSink{w: w} }

// WriteBatch prints one batch in a single Write, so that batches never interleave.
func (c *ConsoleSink) WriteBatch(batchID int64, rows []contract.WindowRow) error {
	var b strings.Builder
	fmt.Fprintf(&b, "-------------------------------------------\nBatch: %d\n-------------------------------------------\n", batchID)
	b.WriteString(showString(rows))
	if _, err := io.WriteString(c.w, b.String()); err != nil {
		return fmt.Errorf("console sink: batch %d: %w", batchID, err)
	}
	return nil
}

// showString mirrors Spark's Dataset.showString with truncate=20: cells over
// 20 characters are cut to 17 plus "...", every column is at least 3 wide,
// cells are right-aligned; more than 20 rows print the first 20 and a note.
// Like Dataset.show, it ends with an empty line.
func showString(rows []contract.WindowRow) string {
	shown := rows[:min(len(rows), consoleMaxRows)]
	cells := make([][]string, 0, len(shown)+1)
	cells = append(cells, consoleHeader)
	for _, r := range shown {
		cells = append(cells, []string{
			sparkTimestamp(r.WinStart), sparkTimestamp(r.WinEnd), r.SensorID,
			strconv.FormatInt(r.Eventos, 10), javaDouble(r.AvgTemp), javaDouble(r.AvgHum),
			strconv.FormatInt(r.OKCount, 10),
		})
	}
	widths := make([]int, len(consoleHeader))
	for i := range widths {
		widths[i] = 3
	}
	for _, row := range cells {
		for i, cell := range row {
			if utf8.RuneCountInString(cell) > consoleTruncate {
				row[i] = string([]rune(cell)[:consoleTruncate-3]) + "..."
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(row[i]))
		}
	}

	var sep strings.Builder
	for _, w := range widths {
		sep.WriteByte('+')
		sep.WriteString(strings.Repeat("-", w))
	}
	sep.WriteString("+\n")

	var b strings.Builder
	b.WriteString(sep.String())
	for i, row := range cells {
		for j, cell := range row {
			b.WriteByte('|')
			b.WriteString(strings.Repeat(" ", widths[j]-utf8.RuneCountInString(cell)))
			b.WriteString(cell)
		}
		b.WriteString("|\n")
		if i == 0 {
			b.WriteString(sep.String())
		}
	}
	b.WriteString(sep.String())
	if len(rows) > consoleMaxRows {
		fmt.Fprintf(&b, "only showing top %d rows\n", consoleMaxRows)
	}
	b.WriteByte('\n')
	return b.String()
}

// sparkTimestamp formats t as Spark casts a timestamp to a string (session
// time zone UTC): seconds always, a fraction only when non-zero, without
// trailing zeros.
func sparkTimestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05.999999")
}

// javaDouble formats f as Java's Double.toString, which Spark uses for
// doubles: plain decimal with at least one fractional digit in [1e-3, 1e7),
// computerized scientific notation ("1.0E7") outside it.
func javaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	if a := math.Abs(f); a == 0 || (a >= 1e-3 && a < 1e7) {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // e.g. 1.2345e+07, 1e-05
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	n, _ := strconv.Atoi(exp) // FormatFloat always writes a valid exponent
	return mant + "E" + strconv.Itoa(n)
}
