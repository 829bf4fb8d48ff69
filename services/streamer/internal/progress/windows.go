package progress

import (
	"slices"
	"strings"
	"sync"

	"github.com/sensorlab/sensorlab/contract"
)

// SensorWindow is the most recent window of one sensor as the stream knows
// it: the current value of a window still open (an update-mode row) or the
// final value of one the watermark closed (an append-mode row, the one the
// lake holds).
type SensorWindow struct {
	contract.WindowRow
	// Closed is true once the watermark closed the window: its values are
	// final and written to the lake.
	Closed bool `json:"closed"`
	// BatchID is the batch that last changed or closed the window.
	BatchID int64 `json:"batch_id"`
}

// Windows keeps the latest window per sensor. It is safe for concurrent use.
type Windows struct {
	mu       sync.Mutex
	bySensor map[string]SensorWindow
}

// NewWindows returns an empty tracker.
func NewWindows() *Windows { return &Windows{bySensor: map[string]SensorWindow{}} }

// Observe folds one batch's rows: updated are the windows the batch changed
// (update mode), closed the windows its watermark closed (append mode). A
// sensor's entry only moves forward in event time; at equal window start a
// closed row replaces an open one.
func (w *Windows) Observe(batchID int64, updated, closed []contract.WindowRow) {
	w.mu.Lock()
	defer w.mu.Unlock()
	put := func(r contract.WindowRow, isClosed bool) {
		cur, ok := w.bySensor[r.SensorID]
		if ok && (cur.WinStart.After(r.WinStart) || (cur.WinStart.Equal(r.WinStart) && cur.Closed && !isClosed)) {
			return
		}
		w.bySensor[r.SensorID] = SensorWindow{WindowRow: r, Closed: isClosed, BatchID: batchID}
	}
	for _, r := range updated {
		put(r, false)
	}
	for _, r := range closed {
		put(r, true)
	}
}

// Latest returns the latest window of every sensor seen, by sensor id.
func (w *Windows) Latest() []SensorWindow {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]SensorWindow, 0, len(w.bySensor))
	for _, sw := range w.bySensor {
		out = append(out, sw)
	}
	slices.SortFunc(out, func(a, b SensorWindow) int { return strings.Compare(a.SensorID, b.SensorID) })
	return out
}
