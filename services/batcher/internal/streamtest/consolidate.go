package streamtest

import (
	"slices"
	"strings"

	"github.com/sensorlab/sensorlab/contract"
)

// Consolidate is the seed's batch formulas over rows in memory, row by row
// in order (the reference a test compares the batcher's table with):
// per sensor_id, sum(eventos), avg(avg_temp), avg(avg_hum), sum(ok_count)
// and count(*), sorted by sensor_id.
func Consolidate(rows []contract.WindowRow) []contract.BatchRow {
	type sums struct {
		n, eventos, ok int64
		temp, hum      float64
	}
	by := map[string]*sums{}
	for _, r := range rows {
		s := by[r.SensorID]
		if s == nil {
			s = &sums{}
			by[r.SensorID] = s
		}
		s.n++
		s.eventos += r.Eventos
		s.ok += r.OKCount
		s.temp += r.AvgTemp
		s.hum += r.AvgHum
	}
	out := make([]contract.BatchRow, 0, len(by))
	for id, s := range by {
		out = append(out, contract.BatchRow{SensorID: id, TotalEventos: s.eventos, AvgTempGlobal: s.temp / float64(s.n),
			AvgHumGlobal: s.hum / float64(s.n), OKTotal: s.ok, Ventanas: s.n})
	}
	slices.SortFunc(out, func(a, b contract.BatchRow) int { return strings.Compare(a.SensorID, b.SensorID) })
	return out
}
