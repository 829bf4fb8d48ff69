package driver

import (
	"encoding/json"
	"sync"

	"github.com/sensorlab/sensorlab/query/output"
	"github.com/sensorlab/sensorlab/query/types"
)

// LatestRowsCap is how many rows of a query's latest output the live page
// is given.
const LatestRowsCap = 100

// QueryRows is the latest output of one query: the rows of the last batch
// that produced any (the first LatestRowsCap), as to_json writes them.
type QueryRows struct {
	Query     string            `json:"query"`
	Sink      string            `json:"sink"`
	Mode      string            `json:"mode"`
	BatchID   int64             `json:"batchId"`
	Columns   []string          `json:"columns"`
	Rows      []json.RawMessage `json:"rows"`
	NumRows   int               `json:"numRows"` // rows the batch output, Rows holds the first ones
	Truncated bool              `json:"truncated,omitempty"`
}

// latestRows keeps every query's QueryRows for the HTTP server.
type latestRows struct {
	mu   sync.Mutex
	fmts map[string]*output.Formatter
	last map[string]QueryRows
}

// record keeps the head of a query's batch output, when it has rows.
func (l *latestRows) record(name, sink, mode string, batchID int64, b *types.Batch) {
	if b == nil || b.N == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fmts == nil {
		l.fmts, l.last = map[string]*output.Formatter{}, map[string]QueryRows{}
	}
	f, ok := l.fmts[name]
	if !ok {
		var err error
		if f, err = output.NewFormatter(b.Schema); err != nil {
			return // a schema the console cannot show: no rows on the page
		}
		l.fmts[name] = f
	}
	head := headRows(b, LatestRowsCap)
	qr := QueryRows{Query: name, Sink: sink, Mode: mode, BatchID: batchID, NumRows: b.N, Truncated: b.N > head.N,
		Rows: make([]json.RawMessage, 0, head.N)}
	for _, fl := range b.Schema {
		qr.Columns = append(qr.Columns, fl.Name)
	}
	f.JSON(head, func(_ int, v []byte) { qr.Rows = append(qr.Rows, json.RawMessage(append([]byte(nil), v...))) })
	l.last[name] = qr
}

// get returns the latest rows of the queries in names' order (those with
// output so far).
func (l *latestRows) get(names []string) []QueryRows {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []QueryRows{}
	for _, n := range names {
		if qr, ok := l.last[n]; ok {
			out = append(out, qr)
		}
	}
	return out
}

// headRows is the first n rows of b (b itself when it has no more).
func headRows(b *types.Batch, n int) *types.Batch {
	if b.N <= n {
		return b
	}
	h := &types.Batch{Schema: b.Schema, Cols: make([]*types.Vector, len(b.Cols)), N: n}
	for i, v := range b.Cols {
		c := &types.Vector{Type: v.Type}
		if v.Str != nil {
			c.Str = v.Str[:n]
		}
		if v.Bool != nil {
			c.Bool = v.Bool[:n]
		}
		if v.I64 != nil {
			c.I64 = v.I64[:n]
		}
		if v.F64 != nil {
			c.F64 = v.F64[:n]
		}
		if v.Null != nil {
			c.Null = v.Null[:n]
		}
		h.Cols[i] = c
	}
	return h
}
