package querycheck

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// reading renders a reading of the seed's shape with the given fields'
// JSON texts.
func reading(id string, ts int64, temp, hum string) []byte {
	return fmt.Appendf(nil, `{"sensor_id": %s, "ts": %d, "temp": %s, "hum": %s, "ok": true}`, jsonString(id), ts, temp, hum)
}

// TestSeedChecks runs the seed's streaming sinks over readings among which
// records break the source's CHECK constraints, or are not readings at
// all, and checks that the engine rejects exactly those, each with the
// reason a user finds on the dead-letter topic (the first constraint
// broken, in declared order, or the decoder's reason), that the rows hold
// the good readings only — those at the constraints' bounds included —
// and that DuckDB, with the constraints as WHERE conditions, agrees on
// which records fail which constraint and on the rows.
func TestSeedChecks(t *testing.T) {
	file := filepath.Join(queriesDir, "seed", "streaming.sql")
	rng := newRand(7)
	evs := sensorEvents(rng, size(20000), 20)
	nowMs := int64(t0 + 3*3600*1000) // current_timestamp(): readings end 30 minutes after t0
	at := func() int64 { return evs[rng.IntN(len(evs))].t }
	type bad struct {
		reason string
		value  []byte
	}
	const ok = "27.5"
	ts := func() int64 { return at() / 1000 }
	var bads []bad
	add := func(reason string, v []byte) { bads = append(bads, bad{reason, v}) }
	for range 3 {
		// CHECK (temp BETWEEN -100 AND 150 AND hum BETWEEN 0 AND 100)
		add("out_of_range", reading("S001", ts(), "150.01", ok))
		add("out_of_range", reading("S002", ts(), "-100.5", ok))
		add("out_of_range", reading("S003", ts(), ok, "100.01"))
		add("out_of_range", reading("S004", ts(), ok, "-0.01"))
		add("out_of_range", reading("S005", ts(), "1e300", ok))
		// CHECK (octet_length(sensor_id) BETWEEN 1 AND 64 AND NOT sensor_id RLIKE '[\x00-\x1f\x7f]')
		add("invalid_sensor_id", reading("", ts(), ok, ok))
		add("invalid_sensor_id", reading(strings.Repeat("S", 65), ts(), ok, ok))
		add("invalid_sensor_id", reading(strings.Repeat("日", 22), ts(), ok, ok)) // 22 characters, 66 bytes
		add("invalid_sensor_id", reading("S0\x0107", ts(), ok, ok))
		add("invalid_sensor_id", reading("S\x7f01", ts(), ok, ok))
		add("invalid_sensor_id", reading("S01\n", ts(), ok, ok))
		// CHECK (ts >= 946684800000 AND ts <= unix_millis(current_timestamp()) + 86400000)
		add("ts_out_of_range", reading("S006", 946684799999, ok, ok))
		add("ts_out_of_range", reading("S006", 0, ok, ok))
		add("ts_out_of_range", reading("S006", -5, ok, ok))
		add("ts_out_of_range", reading("S006", nowMs+86400001, ok, ok))
		add("ts_out_of_range", reading("S006", 9_000_000_000_000, ok, ok))
		// A record that breaks two constraints gets the first declared.
		add("invalid_sensor_id", reading("", ts(), "200", ok))
		add("ts_out_of_range", reading("S007", 0, "200", ok))
		// Not readings: the decoder's reasons.
		add("malformed_json", []byte(`{"sensor_id": "S001", "ts": 17`))
		add("missing_field", []byte(`{"sensor_id": "S001", "ts": 1764756900000, "temp": 20.5, "ok": true}`))
		add("wrong_type", []byte(`{"sensor_id": "S001", "ts": 1764756900000, "temp": "20.5", "hum": 50, "ok": true}`))
		add("wrong_type", []byte(`{"sensor_id": "S001", "ts": 1764756900000, "temp": 20.5, "hum": 50, "ok": "yes"}`))
		add("not_object", []byte(`[1, 2]`))
		add("empty_value", nil)
	}
	decodeReasons := []string{"malformed_json", "missing_field", "wrong_type", "not_object", "empty_value"}
	for _, b := range bads {
		evs = append(evs, event{value: b.value, t: at(), reject: b.reason, engineOnly: slices.Contains(decodeReasons, b.reason)})
	}
	// Good readings at the constraints' bounds: they must reach the rows.
	for _, r := range []func(ts int64) []byte{
		func(ts int64) []byte { return reading("S008", ts, "150", "100") },
		func(ts int64) []byte { return reading("S009", ts, "-100", "0") },
		func(ts int64) []byte { return reading(strings.Repeat("x", 64), ts, ok, ok) },
		func(ts int64) []byte { return reading(strings.Repeat("日", 21), ts, ok, ok) }, // 63 bytes
		func(ts int64) []byte { return reading("S-ü", ts, ok, ok) },
	} {
		tt := at()
		evs = append(evs, event{value: r(tt / 1000), t: tt - tt%1000})
	}
	// The oldest reading allowed, 2000-01-01, first: no watermark yet
	// makes it late.
	evs = append(evs, event{value: reading("S010", 946684800000, ok, ok), t: t0 - 3_600_000_000})

	in := arrange(t, rng, evs, 60_000, false, 1000, "eventos_sensores")
	in.now = nowMs * 1000
	db := duckDB(t, in.file, sensorsFrom)
	conds := []struct{ reason, cond string }{
		{"invalid_sensor_id", `strlen(sensor_id) BETWEEN 1 AND 64 AND NOT regexp_matches(sensor_id, '[\x00-\x1f\x7f]')`},
		{"ts_out_of_range", `ts >= 946684800000 AND ts <= ` + strconv.FormatInt(nowMs, 10) + ` + 86400000`},
		{"out_of_range", `temp BETWEEN -100 AND 150 AND hum BETWEEN 0 AND 100`},
	}
	// DuckDB: which records fail which constraint first.
	var cases, all []string
	for _, c := range conds {
		cases = append(cases, "WHEN NOT ("+c.cond+") THEN '"+c.reason+"'")
		all = append(all, "("+c.cond+")")
	}
	counts := duckRows(t, db, "SELECT CASE "+strings.Join(cases, " ")+" END AS reason, count(*)::BIGINT FROM src GROUP BY reason HAVING reason IS NOT NULL ORDER BY reason")
	want := map[string]int64{}
	for _, b := range bads {
		if !slices.Contains(decodeReasons, b.reason) {
			want[b.reason]++
		}
	}
	got := map[string]int64{}
	for _, r := range counts {
		got[r[0].(string)] = r[1].(int64)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("DuckDB: records failing each constraint first %v, generated %v", got, want)
	}
	for _, s := range seedSinks(strings.Join(all, " AND ")) {
		t.Run(s.sink, func(t *testing.T) { s.check(t, runCase{}, file, in, db, 60_000) })
	}
}
