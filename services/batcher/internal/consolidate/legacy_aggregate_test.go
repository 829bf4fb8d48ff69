// Package consolidate is the batcher's core: it folds the window rows of a
// snapshot of the lake's stream Delta table into one row per sensor (the
// seed's spark_batch_from_parquet.py) and overwrites the batch Delta table
// (batch/agg_desde_stream) with the result, one commit per run.
//
// The aggregation (Aggregator, Consolidate) is pure: rows in, BatchRows out,
// no I/O. The lake side (Consolidator, Read) reads only the live files of
// the snapshot, and only the five columns the formulas need.
//
// Formulas, per sensor_id, exactly the seed's:
//
//	total_eventos   = sum(eventos)
//	avg_temp_global = avg(avg_temp)   unweighted mean of the window means
//	avg_hum_global  = avg(avg_hum)    likewise
//	ok_total        = sum(ok_count)
//	ventanas        = count(*)
//
// avg_temp_global is NOT the mean temperature of the sensor's readings: a
// window with 1 reading weighs as much as one with 100. That is what the seed
// computes (Spark's avg over the window rows), so it is what the batcher
// computes; the weighted mean would be sum(avg_temp*eventos)/sum(eventos).
package consolidate

import (
	"slices"
	"strings"

	"github.com/sensorlab/sensorlab/contract"
)

// Window is the part of a window row the consolidation reads.
type Window struct {
	SensorID string
	Eventos  int64
	AvgTemp  float64
	AvgHum   float64
	OKCount  int64
}

// WindowOf projects a full window row onto the columns the consolidation reads.
func WindowOf(r contract.WindowRow) Window {
	return Window{SensorID: r.SensorID, Eventos: r.Eventos, AvgTemp: r.AvgTemp, AvgHum: r.AvgHum, OKCount: r.OKCount}
}

// partial is one sensor's running sums: Spark's partial aggregate of the
// same formulas (avg is kept as sum and count until the end).
type partial struct {
	windows int64
	eventos int64
	okCount int64
	sumTemp float64
	sumHum  float64
}

// Aggregator accumulates window rows per sensor. The zero value is ready to
// use. It is not safe for concurrent use; aggregate in parallel into separate
// Aggregators and Merge them in a fixed order for a deterministic result.
type Aggregator struct {
	bySensor map[string]*partial
	rows     int64
}

// Add folds one window row in.
func (a *Aggregator) Add(w Window) {
	if a.bySensor == nil {
		a.bySensor = make(map[string]*partial)
	}
	p := a.bySensor[w.SensorID]
	if p == nil {
		p = &partial{}
		a.bySensor[w.SensorID] = p
	}
	p.windows++
	p.eventos += w.Eventos
	p.okCount += w.OKCount
	p.sumTemp += w.AvgTemp
	p.sumHum += w.AvgHum
	a.rows++
}

// Merge folds everything b accumulated into a.
func (a *Aggregator) Merge(b *Aggregator) {
	if b == nil || len(b.bySensor) == 0 {
		return
	}
	if a.bySensor == nil {
		a.bySensor = make(map[string]*partial, len(b.bySensor))
	}
	// Visit b's sensors in a fixed order so that the result does not depend
	// on map iteration (it does not today, each sensor is independent, but
	// keep it obviously deterministic).
	for _, id := range sortedKeys(b.bySensor) {
		a.addPartial(id, *b.bySensor[id])
	}
	a.rows += b.rows
}

// addPartial folds q, the sums of q.windows rows of sensor id, into a's sums
// of id. It does not count the rows in WindowRows: that is the caller's.
// Into an Aggregator that has no rows of id yet, the sums are q's exactly
// (0 + x == x).
func (a *Aggregator) addPartial(id string, q partial) {
	if a.bySensor == nil {
		a.bySensor = make(map[string]*partial)
	}
	p := a.bySensor[id]
	if p == nil {
		p = &partial{}
		a.bySensor[id] = p
	}
	p.windows += q.windows
	p.eventos += q.eventos
	p.okCount += q.okCount
	p.sumTemp += q.sumTemp
	p.sumHum += q.sumHum
}

// WindowRows is the number of window rows folded in so far.
func (a *Aggregator) WindowRows() int64 { return a.rows }

// Rows returns one BatchRow per sensor, sorted by sensor_id. It never returns
// nil: no input gives an empty, non-nil slice.
func (a *Aggregator) Rows() []contract.BatchRow {
	out := make([]contract.BatchRow, 0, len(a.bySensor))
	for _, id := range sortedKeys(a.bySensor) {
		p := a.bySensor[id]
		out = append(out, contract.BatchRow{
			SensorID:      id,
			TotalEventos:  p.eventos,
			AvgTempGlobal: p.sumTemp / float64(p.windows),
			AvgHumGlobal:  p.sumHum / float64(p.windows),
			OKTotal:       p.okCount,
			Ventanas:      p.windows,
		})
	}
	return out
}

// Consolidate is the whole batch job over rows already in memory.
func Consolidate(rows []contract.WindowRow) []contract.BatchRow {
	var a Aggregator
	for _, r := range rows {
		a.Add(WindowOf(r))
	}
	return a.Rows()
}

func sortedKeys(m map[string]*partial) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, strings.Compare)
	return keys
}
