package gen

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
)

const start = int64(1732200000000) // 2024-11-21T14:40:00Z

func fixed(seed uint64) Config {
	return Config{Seed: seed, Sensors: 20, StartMs: start, Step: 200 * time.Millisecond, Scheduled: -1}
}

func mustNew(t testing.TB, cfg Config) *Generator {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func take(t testing.TB, cfg Config, n int) []Record {
	g := mustNew(t, cfg)
	out := make([]Record, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

func TestSameSeedSameBytesOtherSeedOtherBytes(t *testing.T) {
	cfg := fixed(7)
	cfg.LateFraction, cfg.LateBy, cfg.DuplicateFraction, cfg.InvalidFraction = 0.1, 90*time.Second, 0.1, 0.1
	a, b := take(t, cfg, 5000), take(t, cfg, 5000)
	for i := range a {
		if !bytes.Equal(a[i].Key, b[i].Key) || !bytes.Equal(a[i].Value, b[i].Value) {
			t.Fatalf("record %d differs between two runs with seed 7: %q/%q vs %q/%q", i, a[i].Key, a[i].Value, b[i].Key, b[i].Value)
		}
	}
	cfg.Seed = 8
	c := take(t, cfg, 5000)
	same := 0
	for i := range a {
		if bytes.Equal(a[i].Value, c[i].Value) {
			same++
		}
	}
	if same > 50 {
		t.Fatalf("seeds 7 and 8 share %d of 5000 values: the seed does not drive the stream", same)
	}
}

func TestReadingsFollowTheSeedDistributions(t *testing.T) {
	const n = 200_000
	recs := take(t, fixed(42), n)
	perSensor := map[string]int{}
	okCount := 0
	var tempMin, tempMax, humMin, humMax = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for i, r := range recs {
		if r.Kind != KindReading {
			t.Fatalf("record %d is %v with every fraction 0", i, r.Kind)
		}
		ev, err := contract.DecodeEvent(r.Value, start+int64(n)*200)
		if err != nil {
			t.Fatalf("record %d %s rejected: %v", i, r.Value, err)
		}
		if ev != r.Event {
			t.Fatalf("record %d decodes to %+v, generator says %+v", i, ev, r.Event)
		}
		if string(r.Key) != ev.SensorID {
			t.Fatalf("record %d key %q, sensor_id %q", i, r.Key, ev.SensorID)
		}
		if ev.TS != start+int64(i)*200 {
			t.Fatalf("record %d ts %d, want start+i*step %d", i, ev.TS, start+int64(i)*200)
		}
		if ev.Temp < 18 || ev.Temp > 40 || ev.Hum < 35 || ev.Hum > 95 {
			t.Fatalf("record %d out of the seed's ranges: %s", i, r.Value)
		}
		for _, f := range []string{"temp", "hum"} {
			if d := decimals(t, r.Value, f); d > 2 {
				t.Fatalf("record %d %s has %d decimals: %s", i, f, d, r.Value)
			}
		}
		tempMin, tempMax = min(tempMin, ev.Temp), max(tempMax, ev.Temp)
		humMin, humMax = min(humMin, ev.Hum), max(humMax, ev.Hum)
		perSensor[ev.SensorID]++
		if ev.OK {
			okCount++
		}
	}
	if p := float64(okCount) / n; math.Abs(p-0.95) > 0.003 {
		t.Errorf("ok rate %.4f, want 0.95", p)
	}
	// The ranges are covered, not just respected.
	if tempMin > 18.05 || tempMax < 39.95 || humMin > 35.05 || humMax < 94.95 {
		t.Errorf("ranges not covered: temp [%v, %v], hum [%v, %v]", tempMin, tempMax, humMin, humMax)
	}
	if len(perSensor) != 20 {
		t.Fatalf("%d distinct sensors, want 20: %v", len(perSensor), perSensor)
	}
	for id, c := range perSensor {
		if !strings.HasPrefix(id, "S0") || len(id) != 4 {
			t.Errorf("sensor id %q is not S001..S020", id)
		}
		if share := float64(c) / n; math.Abs(share-0.05) > 0.004 {
			t.Errorf("sensor %s has %.4f of the records, want about 0.05", id, share)
		}
	}
	for _, id := range []string{"S001", "S020"} {
		if perSensor[id] == 0 {
			t.Errorf("sensor %s never appears", id)
		}
	}
}

// decimals counts the digits after the point of a number field in a JSON value.
func decimals(t *testing.T, value []byte, field string) int {
	t.Helper()
	s := string(value)
	i := strings.Index(s, `"`+field+`":`)
	if i < 0 {
		t.Fatalf("no %s in %s", field, s)
	}
	s = s[i+len(field)+3:]
	s = s[:strings.IndexAny(s, ",}")]
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		t.Fatalf("%s %q is not a number", field, s)
	}
	if dot := strings.IndexByte(s, '.'); dot >= 0 {
		return len(s) - dot - 1
	}
	return 0
}

func TestEveryInvalidKindIsRejectedWithItsOwnReason(t *testing.T) {
	ev := contract.Event{SensorID: "S007", TS: start, Temp: 27.41, Hum: 63.05, OK: true}
	seen := map[contract.Reason]Invalid{}
	for _, kind := range InvalidKinds {
		value := malformed(kind, ev)
		_, err := contract.DecodeEvent(value, start)
		reason := contract.ReasonOf(err)
		if reason == "" {
			t.Errorf("%v record %q accepted by DecodeEvent (err %v)", kind, value, err)
			continue
		}
		if other, dup := seen[reason]; dup {
			t.Errorf("%v and %v are both rejected as %q: kinds must be distinct", kind, other, reason)
		}
		seen[reason] = kind
	}
	for _, want := range []contract.Reason{
		contract.ReasonMalformedJSON, contract.ReasonEmpty, contract.ReasonMissingField, contract.ReasonWrongType,
		contract.ReasonOutOfRange, contract.ReasonInvalidUTF8, contract.ReasonTSOutOfRange,
	} {
		if _, ok := seen[want]; !ok {
			t.Errorf("no invalid kind exercises reason %q", want)
		}
	}
}

func TestFaultInjection(t *testing.T) {
	const n = 100_000
	cfg := fixed(3)
	cfg.LateFraction, cfg.LateBy, cfg.DuplicateFraction, cfg.InvalidFraction = 0.05, 90*time.Second, 0.02, 0.03
	recs := take(t, cfg, n)
	kinds := map[Kind]int{}
	invalid := map[Invalid]int{}
	for i, r := range recs {
		kinds[r.Kind]++
		slot := start + int64(i)*200
		_, err := contract.DecodeEvent(r.Value, slot)
		switch r.Kind {
		case KindInvalid:
			invalid[r.Invalid]++
			if err == nil {
				t.Fatalf("record %d is marked %v but DecodeEvent accepts %q", i, r.Invalid, r.Value)
			}
		case KindLate:
			if err != nil || r.Event.TS != slot-90_000 {
				t.Fatalf("late record %d: ts %d (want %d), err %v", i, r.Event.TS, slot-90_000, err)
			}
		case KindDuplicate:
			prev := recs[i-1]
			if !bytes.Equal(prev.Key, r.Key) || !bytes.Equal(prev.Value, r.Value) || prev.Kind == KindInvalid {
				t.Fatalf("duplicate %d %q/%q does not repeat the reading before it %q/%q", i, r.Key, r.Value, prev.Key, prev.Value)
			}
		case KindReading:
			if err != nil || r.Event.TS != slot {
				t.Fatalf("reading %d: ts %d (want %d), err %v", i, r.Event.TS, slot, err)
			}
		}
	}
	// Duplicates are drawn over valid readings, so their share of all records is
	// about 0.02 * (1 - 0.03) / (1 + that).
	wantDup := 0.02 * 0.97 / (1 + 0.02*0.97)
	for kind, want := range map[Kind]float64{KindInvalid: 0.03 / (1 + 0.02*0.97), KindDuplicate: wantDup, KindLate: 0.05 * 0.97 / (1 + 0.02*0.97)} {
		if got := float64(kinds[kind]) / n; math.Abs(got-want) > want/10 {
			t.Errorf("%v share %.4f, want about %.4f", kind, got, want)
		}
	}
	if len(invalid) != len(InvalidKinds) {
		t.Errorf("only %d of %d invalid kinds drawn: %v", len(invalid), len(InvalidKinds), invalid)
	}
}

func TestFaultsLeaveOtherReadingsUnchanged(t *testing.T) {
	clean := take(t, fixed(11), 2000)
	cfg := fixed(11)
	cfg.InvalidFraction, cfg.LateFraction, cfg.LateBy = 0.2, 0.2, time.Minute
	faulty := take(t, cfg, 2000)
	for i := range clean {
		if faulty[i].Kind == KindReading && !bytes.Equal(faulty[i].Value, clean[i].Value) {
			t.Fatalf("record %d changed by fault injection elsewhere: %s vs %s", i, faulty[i].Value, clean[i].Value)
		}
	}
}

func TestWallClockAfterTheScheduledRecords(t *testing.T) {
	now := int64(1732300000000)
	cfg := Config{Seed: 1, Sensors: 3, StartMs: now - 2000, Step: 500 * time.Millisecond, Scheduled: 4, Now: func() int64 { now += 7; return now }}
	g := mustNew(t, cfg)
	want := []int64{now - 2000, now - 1500, now - 1000, now - 500, now + 7, now + 14}
	for i, w := range want {
		r := g.Next()
		if r.Event.TS != w {
			t.Fatalf("record %d ts %d, want %d", i, r.Event.TS, w)
		}
		if !strings.HasPrefix(string(r.Key), "S00") || r.Key[3] < '1' || r.Key[3] > '3' {
			t.Fatalf("record %d key %q outside S001..S003", i, r.Key)
		}
	}
	if g.Generated() != int64(len(want)) {
		t.Fatalf("Generated() = %d, want %d", g.Generated(), len(want))
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no sensors":   {Sensors: 0, Step: time.Second, Scheduled: -1},
		"1000 sensors": {Sensors: 1000, Step: time.Second, Scheduled: -1},
		"zero step":    {Sensors: 1, Scheduled: -1},
		"no clock":     {Sensors: 1, Step: time.Second, Scheduled: 0},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

func TestSensorIDs(t *testing.T) {
	for n, want := range map[int]string{1: "S001", 20: "S020", 999: "S999"} {
		if got := SensorID(n); got != want {
			t.Errorf("SensorID(%d) = %q, want %q", n, got, want)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	g := mustNew(b, fixed(1))
	for b.Loop() {
		sink = g.Next()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

var sink Record
