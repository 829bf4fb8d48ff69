package qsink

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/sensorlab/sensorlab/query/output"
	"github.com/sensorlab/sensorlab/query/plan"
	"github.com/sensorlab/sensorlab/query/types"
)

// consoleOutput prints each batch as Spark's console sink does: the
// banner with the batch id, then Dataset.show(numRows, truncate) of the
// rows in the order given, in one Write so that batches never interleave.
// A no-data batch without rows prints nothing (Spark runs no batch then);
// a batch that read data prints even when it has no rows, as Spark does.
type consoleOutput struct {
	q        *plan.Query
	w        io.Writer
	f        *output.Formatter
	numRows  int
	truncate int
}

func openConsole(q *plan.Query, env Env) (*consoleOutput, error) {
	s := q.Sink
	if env.Stdout == nil {
		return nil, fmt.Errorf("qsink: sink %s: no standard output to print to", s.Name)
	}
	numRows, truncate, err := consoleOptions(s.Options)
	if err != nil {
		return nil, fmt.Errorf("qsink: sink %s: %w", s.Name, err)
	}
	f, err := output.NewFormatter(q.Output)
	if err != nil {
		return nil, fmt.Errorf("qsink: sink %s: %w", s.Name, err)
	}
	return &consoleOutput{q: q, w: env.Stdout, f: f, numRows: numRows, truncate: truncate}, nil
}

// consoleOptions reads Spark's console sink options: numRows (default 20)
// and truncate (default true: cells cut at 20 characters; false: never).
func consoleOptions(opts map[string]string) (numRows, truncate int, err error) {
	numRows, truncate = output.DefaultNumRows, output.DefaultTruncate
	if v, ok := opts["numrows"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return 0, 0, fmt.Errorf("numRows = %q: want a number of rows, 0 or more", v)
		}
		numRows = n
	}
	if v, ok := opts["truncate"]; ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
		case "false":
			truncate = 0
		default:
			return 0, 0, fmt.Errorf("truncate = %q: want 'true' or 'false'", v)
		}
	}
	return numRows, truncate, nil
}

// ShowsFirst reports whether out reads only the first rows of a batch in
// its query's ORDER BY order (a console prints its first numRows) and how
// many.
func ShowsFirst(out Output) (int, bool) {
	if c, ok := out.(*consoleOutput); ok {
		return c.numRows, true
	}
	return 0, false
}

func (o *consoleOutput) Describe() string {
	return fmt.Sprintf("ConsoleSink[numRows=%d, truncate=%t]", o.numRows, o.truncate > 0)
}

func (o *consoleOutput) Write(_ context.Context, batchID int64, rows *types.Batch, noData bool) (Result, error) {
	if err := checkRows(o.q, rows); err != nil {
		return Result{}, err
	}
	n := numRows(rows)
	if noData && n == 0 {
		return Result{Skipped: true, Version: -1}, nil
	}
	b := rows
	if b == nil {
		b = types.NewBatch(o.q.Output, 0)
	}
	if _, err := io.WriteString(o.w, o.f.ConsoleBatch(batchID, b, o.numRows, o.truncate)); err != nil {
		return Result{}, fmt.Errorf("qsink: console sink %s: batch %d: %w", o.q.Sink.Name, batchID, err)
	}
	return Result{Rows: int64(n), Version: -1}, nil
}
