// Package gen is the producer's pure, deterministic generator of sensor
// records, fault injection included.
//
// Invariants:
//   - Given the same Config (seed, sensors, schedule, fractions) and, for
//     wall-clock stamping, the same Now readings, Next yields a byte-identical
//     sequence of records (math/rand/v2 PCG seeded with Config.Seed).
//   - Every fresh record draws the same random numbers in the same order, so
//     changing a fraction changes which records are faulty, never the
//     underlying readings of the others.
//   - Record i (counting every record, duplicates and invalid ones included)
//     owns the event-time slot start + i*step while i < Scheduled; later
//     records are stamped with Now(). Duplicates repeat their original
//     verbatim, ts included.
//   - Valid readings follow the seed: sensor uniform over S001..S<n>, temp
//     uniform in [18, 40] and hum in [35, 95] rounded to 2 decimals, ok with
//     probability 0.95. Every invalid record is rejected by
//     contract.DecodeEvent, each Invalid kind with its own reason.
//
// The package does no I/O and keeps no clock of its own.
package gen

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/sensorlab/sensorlab/contract"
)

// Kind says what a record is.
type Kind uint8

// The kinds of record the generator yields.
const (
	KindReading   Kind = iota // a valid reading, stamped on time
	KindLate                  // a valid reading whose ts lags by LateBy
	KindDuplicate             // the previous record again, same key and value
	KindInvalid               // a malformed record, see Invalid
)

func (k Kind) String() string {
	switch k {
	case KindReading:
		return "reading"
	case KindLate:
		return "late"
	case KindDuplicate:
		return "duplicate"
	case KindInvalid:
		return "invalid"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Invalid is the kind of malformation of an invalid record.
type Invalid uint8

// The malformations, each rejected by contract.DecodeEvent with its own reason.
const (
	InvalidNone         Invalid = iota
	InvalidMalformed            // truncated JSON
	InvalidEmpty                // empty value
	InvalidMissingField         // "hum" left out
	InvalidWrongType            // temp as a string
	InvalidOutOfRange           // temp 1000
	InvalidNonUTF8              // a 0xff byte inside sensor_id
	InvalidTSBefore2000         // ts in epoch seconds, the classic unit mistake
	InvalidNotObject            // a JSON array
	InvalidSensorID             // empty sensor_id
)

// InvalidKinds lists every malformation the generator produces.
var InvalidKinds = []Invalid{
	InvalidMalformed, InvalidEmpty, InvalidMissingField, InvalidWrongType, InvalidOutOfRange,
	InvalidNonUTF8, InvalidTSBefore2000, InvalidNotObject, InvalidSensorID,
}

func (v Invalid) String() string {
	switch v {
	case InvalidNone:
		return "none"
	case InvalidMalformed:
		return "malformed_json"
	case InvalidEmpty:
		return "empty_value"
	case InvalidMissingField:
		return "missing_field"
	case InvalidWrongType:
		return "wrong_type"
	case InvalidOutOfRange:
		return "out_of_range"
	case InvalidNonUTF8:
		return "non_utf8"
	case InvalidTSBefore2000:
		return "ts_before_2000"
	case InvalidNotObject:
		return "not_object"
	case InvalidSensorID:
		return "empty_sensor_id"
	}
	return "invalid(" + strconv.Itoa(int(v)) + ")"
}

// Config parameterises a Generator.
type Config struct {
	Seed    uint64
	Sensors int // 1..999
	// StartMs is the event time of record 0, epoch ms; Step spaces the slots.
	StartMs int64
	Step    time.Duration
	// Scheduled is how many records take their ts from the schedule
	// (StartMs + i*Step). Negative means all of them, and Now is not used.
	Scheduled int64
	// Now returns the wall clock in epoch ms, for records past Scheduled.
	Now func() int64

	LateFraction      float64
	LateBy            time.Duration
	DuplicateFraction float64
	InvalidFraction   float64
}

// Record is one record to produce. The caller owns Value; Key is shared
// between the records of a sensor and must not be modified.
type Record struct {
	Key     []byte
	Value   []byte
	Kind    Kind
	Invalid Invalid // set when Kind is KindInvalid
	// Event is the reading behind the record (for an invalid record, the
	// reading it was made from).
	Event contract.Event
}

// Generator yields records; it is not safe for concurrent use.
type Generator struct {
	cfg     Config
	rng     *rand.Rand
	ids     []string
	keys    [][]byte
	i       int64 // records yielded so far
	pending *Record
	slab    []byte // values are carved from it: one allocation per many records
}

// slabSize is the size of the chunks values are carved from.
const slabSize = 64 << 10

// New returns a Generator for cfg. It reports a Config it cannot honour.
func New(cfg Config) (*Generator, error) {
	if cfg.Sensors < 1 || cfg.Sensors > 999 {
		return nil, fmt.Errorf("gen: sensors %d outside [1, 999]", cfg.Sensors)
	}
	if cfg.Step <= 0 {
		return nil, fmt.Errorf("gen: step %s must be > 0", cfg.Step)
	}
	if cfg.Scheduled >= 0 && cfg.Now == nil {
		return nil, fmt.Errorf("gen: a clock is required when only %d records are scheduled", cfg.Scheduled)
	}
	g := &Generator{
		cfg: cfg,
		// The second PCG word is a fixed odd constant, so the stream depends on Seed alone.
		rng:  rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)),
		ids:  make([]string, cfg.Sensors),
		keys: make([][]byte, cfg.Sensors),
	}
	for n := range g.ids {
		g.ids[n] = SensorID(n + 1)
		g.keys[n] = []byte(g.ids[n])
	}
	return g, nil
}

// SensorID returns the id of sensor n (1-based): S001, S002, ...
func SensorID(n int) string { return fmt.Sprintf("S%03d", n) }

// Generated returns how many records Next has yielded.
func (g *Generator) Generated() int64 { return g.i }

// Next yields the next record.
func (g *Generator) Next() Record {
	slot := g.slotMs()
	g.i++
	if p := g.pending; p != nil {
		g.pending = nil
		return *p
	}

	// Always the same draws, in the same order: see the package invariants.
	sensor := g.rng.IntN(g.cfg.Sensors)
	temp := contract.Round2(18 + 22*g.rng.Float64())
	hum := contract.Round2(35 + 60*g.rng.Float64())
	ok := g.rng.Float64() < 0.95
	uInvalid, uLate, uDup := g.rng.Float64(), g.rng.Float64(), g.rng.Float64()
	invalid := InvalidKinds[g.rng.IntN(len(InvalidKinds))]

	ev := contract.Event{SensorID: g.ids[sensor], TS: slot, Temp: temp, Hum: hum, OK: ok}
	rec := Record{Key: g.keys[sensor], Kind: KindReading, Event: ev}
	if uInvalid < g.cfg.InvalidFraction {
		rec.Kind, rec.Invalid = KindInvalid, invalid
		rec.Value = malformed(invalid, ev)
		return rec
	}
	if uLate < g.cfg.LateFraction {
		rec.Kind = KindLate
		rec.Event.TS -= g.cfg.LateBy.Milliseconds()
	}
	rec.Value = g.carve(contract.AppendJSON(g.spare(), rec.Event))
	if uDup < g.cfg.DuplicateFraction {
		dup := Record{Key: rec.Key, Value: g.carve(append(g.spare(), rec.Value...)), Kind: KindDuplicate, Event: rec.Event}
		g.pending = &dup
	}
	return rec
}

// spare returns the unused tail of the slab, empty, to append one value to.
func (g *Generator) spare() []byte {
	if cap(g.slab)-len(g.slab) < 256 {
		g.slab = make([]byte, 0, slabSize)
	}
	return g.slab[len(g.slab):]
}

// carve takes v, just appended to spare(), out of the slab. A value that
// outgrew the slab was reallocated by append and is returned as is.
func (g *Generator) carve(v []byte) []byte {
	rest := g.slab[len(g.slab):cap(g.slab)]
	if len(v) > 0 && len(rest) > 0 && &v[0] == &rest[0] {
		g.slab = g.slab[:len(g.slab)+len(v)]
	}
	return v[:len(v):len(v)]
}

// slotMs is the event time of the record about to be yielded.
func (g *Generator) slotMs() int64 {
	if g.cfg.Scheduled < 0 || g.i < g.cfg.Scheduled {
		return g.cfg.StartMs + g.i*g.cfg.Step.Milliseconds()
	}
	return g.cfg.Now()
}

// malformed builds the value of an invalid record from the reading ev.
func malformed(kind Invalid, ev contract.Event) []byte {
	valid := contract.AppendJSON(nil, ev)
	switch kind {
	case InvalidMalformed:
		return valid[:len(valid)/2]
	case InvalidEmpty:
		return []byte{}
	case InvalidMissingField:
		b := []byte(`{"sensor_id":"` + ev.SensorID + `","ts":`)
		b = strconv.AppendInt(b, ev.TS, 10)
		b = append(b, `,"temp":`...)
		b = strconv.AppendFloat(b, ev.Temp, 'f', -1, 64)
		return append(b, `,"ok":true}`...)
	case InvalidWrongType:
		b := []byte(`{"sensor_id":"` + ev.SensorID + `","ts":`)
		b = strconv.AppendInt(b, ev.TS, 10)
		b = append(b, `,"temp":"`...)
		b = strconv.AppendFloat(b, ev.Temp, 'f', -1, 64)
		b = append(b, `","hum":`...)
		b = strconv.AppendFloat(b, ev.Hum, 'f', -1, 64)
		return append(b, `,"ok":true}`...)
	case InvalidOutOfRange:
		ev.Temp = 1000
		return contract.AppendJSON(nil, ev)
	case InvalidNonUTF8:
		// AppendJSON would escape the byte; write it raw, as a broken device would.
		b := []byte(`{"sensor_id":"S` + "\xff" + ev.SensorID[1:] + `","ts":`)
		b = strconv.AppendInt(b, ev.TS, 10)
		return append(b, `,"temp":20.0,"hum":50.0,"ok":true}`...)
	case InvalidTSBefore2000:
		ev.TS /= 1000
		return contract.AppendJSON(nil, ev)
	case InvalidNotObject:
		return []byte(`["` + ev.SensorID + `",` + strconv.FormatInt(ev.TS, 10) + `]`)
	case InvalidSensorID:
		ev.SensorID = ""
		return contract.AppendJSON(nil, ev)
	}
	return valid
}
