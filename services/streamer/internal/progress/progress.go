// Package progress holds the streamer's per-batch progress reports, with
// Structured Streaming's StreamingQueryProgress field names so that a Spark
// user recognises them, and keeps the most recent ones for /progress.
package progress

import (
	"sync"
	"time"
)

// Query is one micro-batch's progress, as Spark's StreamingQueryProgress.
type Query struct {
	ID                     string            `json:"id"`
	RunID                  string            `json:"runId"`
	Name                   string            `json:"name"`
	Timestamp              string            `json:"timestamp"`
	BatchID                int64             `json:"batchId"`
	NumInputRows           int64             `json:"numInputRows"`
	InputRowsPerSecond     float64           `json:"inputRowsPerSecond"`
	ProcessedRowsPerSecond float64           `json:"processedRowsPerSecond"`
	DurationMs             map[string]int64  `json:"durationMs"`
	EventTime              map[string]string `json:"eventTime,omitempty"`
	StateOperators         []StateOperator   `json:"stateOperators"`
	Sources                []Source          `json:"sources"`
	Sink                   Sink              `json:"sink"`
	// sensorlab additions: what a Spark progress does not show.
	NumInvalidRows  int64            `json:"numInvalidRows"`
	InvalidByReason map[string]int64 `json:"invalidByReason,omitempty"`
	Replayed        bool             `json:"replayed,omitempty"`
}

// StateOperator is Spark's StateOperatorProgress.
type StateOperator struct {
	OperatorName              string `json:"operatorName"`
	NumRowsTotal              int64  `json:"numRowsTotal"`
	NumRowsUpdated            int64  `json:"numRowsUpdated"`
	NumRowsRemoved            int64  `json:"numRowsRemoved"`
	NumRowsDroppedByWatermark int64  `json:"numRowsDroppedByWatermark"`
	MemoryUsedBytes           int64  `json:"memoryUsedBytes"`
	// CustomMetrics, as Spark's: the dedup and timeout state's figures.
	CustomMetrics map[string]int64 `json:"customMetrics,omitempty"`
}

// Source is Spark's SourceProgress; offsets are {"topic": {"partition": offset}}.
type Source struct {
	Description            string                      `json:"description"`
	StartOffset            map[string]map[string]int64 `json:"startOffset"`
	EndOffset              map[string]map[string]int64 `json:"endOffset"`
	LatestOffset           map[string]map[string]int64 `json:"latestOffset"`
	NumInputRows           int64                       `json:"numInputRows"`
	InputRowsPerSecond     float64                     `json:"inputRowsPerSecond"`
	ProcessedRowsPerSecond float64                     `json:"processedRowsPerSecond"`
}

// Sink is Spark's SinkProgress.
type Sink struct {
	Description   string `json:"description"`
	NumOutputRows int64  `json:"numOutputRows"`
}

// timeLayout is the layout of instants in Spark's progress JSON.
const timeLayout = "2006-01-02T15:04:05.000Z"

// FormatTime formats an instant as Spark does in progress JSON.
func FormatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// ParseTime parses an instant formatted by FormatTime.
func ParseTime(s string) (time.Time, error) { return time.Parse(timeLayout, s) }

// Log keeps the last N progress reports.
type Log struct {
	mu   sync.Mutex
	max  int
	list []Query
}

// NewLog keeps up to max reports.
func NewLog(max int) *Log { return &Log{max: max} }

// Add appends a report, dropping the oldest beyond the bound.
func (l *Log) Add(q Query) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, q)
	if len(l.list) > l.max {
		l.list = append(l.list[:0], l.list[len(l.list)-l.max:]...)
	}
}

// Recent returns up to n most recent reports, oldest first.
func (l *Log) Recent(n int) []Query {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n <= 0 || n > len(l.list) {
		n = len(l.list)
	}
	return append([]Query(nil), l.list[len(l.list)-n:]...)
}
