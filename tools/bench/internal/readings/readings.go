// Package readings generates the load of sensorlab's benchmarks: sensor
// readings in the seed's JSON format (Python's json.dumps spacing), varied
// as the seed's generator varies them, and deterministic for a seed so that
// every tool of a run (the engine, DuckDB, the broker) sees the same bytes.
package readings

import (
	"math/rand/v2"
	"strconv"

	"github.com/sensorlab/sensorlab/contract"
)

// Generator produces readings of Sensors sensors, round-robin, their event
// time starting at T0 (epoch ms) and advancing 1 ms every PerMs readings.
type Generator struct {
	Sensors int
	T0      int64
	PerMs   int
	rng     *rand.Rand
	ids     []string
	i       int
}

// New returns a generator; seed fixes the values.
func New(sensors int, t0 int64, perMs int, seed uint64) *Generator {
	ids := make([]string, sensors)
	for i := range ids {
		if sensors <= 999 {
			ids[i] = "S" + strconv.Itoa(1001 + i)[1:] // S001..S020, as the seed
		} else {
			ids[i] = "S" + strconv.Itoa(i+1)
		}
	}
	return &Generator{Sensors: sensors, T0: t0, PerMs: max(1, perMs), rng: rand.New(rand.NewPCG(seed, seed^0x5e45)), ids: ids}
}

// Next returns the next reading.
func (g *Generator) Next() contract.Event {
	ev := contract.Event{
		SensorID: g.ids[g.i%len(g.ids)],
		TS:       g.T0 + int64(g.i/g.PerMs),
		Temp:     contract.Round2(18 + 22*g.rng.Float64()),
		Hum:      contract.Round2(35 + 60*g.rng.Float64()),
		OK:       g.rng.Float64() < 0.95,
	}
	g.i++
	return ev
}

// AppendNext appends the next reading's JSON to dst and returns it with the
// reading's sensor id.
func (g *Generator) AppendNext(dst []byte) ([]byte, string) {
	ev := g.Next()
	return AppendSeedJSON(dst, ev), ev.SensorID
}

// AppendSeedJSON appends ev as the seed's generator prints it:
// {"sensor_id": "S007", "ts": 1732200000123, "temp": 27.41, "hum": 63.05, "ok": true}
func AppendSeedJSON(dst []byte, ev contract.Event) []byte {
	for _, c := range contract.AppendJSON(nil, ev) {
		dst = append(dst, c)
		if c == ':' || c == ',' {
			dst = append(dst, ' ')
		}
	}
	return dst
}
