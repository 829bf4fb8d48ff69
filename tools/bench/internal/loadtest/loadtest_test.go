package loadtest

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The harness reads the streamer's "batch committed" lines in query mode:
// the measured sink's rows by query, with or without the batch's phases.
func TestParseBatchReadsTheQueryModeLog(t *testing.T) {
	for _, c := range []struct {
		name, line string
		want       committed
	}{
		{"rows by query in output_rows_by_query, phases in durations_ms",
			`{"level":"INFO","msg":"batch committed","batch_id":3,"input_rows":500000,"invalid_rows":2,"output_rows":260,` +
				`"output_rows_by_query":{"stream":200,"console":40,"alerts":20},"duration_ms":412,"durations_ms":{"addBatch":301,"getBatch":40}}`,
			committed{input: 500000, invalid: 2, output: 200, duration: 412 * time.Millisecond,
				phases: map[string]time.Duration{"addBatch": 301 * time.Millisecond, "getBatch": 40 * time.Millisecond}}},
		{"rows by query in output_rows, no phases",
			`{"msg":"batch committed","input_rows":10,"output_rows":{"stream":7,"alerts":1},"duration_ms":5}`,
			committed{input: 10, output: 7, duration: 5 * time.Millisecond}},
	} {
		got, ok, err := parseBatch([]byte(c.line), "stream")
		if !ok || err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %+v, %v, %v; want %+v", c.name, got, ok, err, c.want)
		}
	}
	if _, ok, _ := parseBatch([]byte(`{"msg":"query started","input_rows":3}`), "stream"); ok {
		t.Error("another message was read as a batch")
	}
	if _, ok, _ := parseBatch([]byte(`not json`), "stream"); ok {
		t.Error("a line that is not JSON was read as a batch")
	}
	_, ok, err := parseBatch([]byte(`{"msg":"batch committed","input_rows":10,"output_rows":17,"duration_ms":5}`), "stream")
	if !ok || err == nil || !strings.Contains(err.Error(), "sink stream") {
		t.Errorf("a line without the sink's rows: ok %v, err %v; want an error naming the sink", ok, err)
	}
}

func TestParseTakesTheQueryFilesWithAGenerator(t *testing.T) {
	c, err := parse([]string{"-query", "fraud", "-sensors", "1000000"}, io.Discard)
	if err != nil || c.Query != "fraud" || c.Sensors != 1_000_000 {
		t.Fatalf("got %+v, %v", c, err)
	}
	if c, err := parse(nil, io.Discard); err != nil || c.Query != "seed" {
		t.Fatalf("default: query %q, %v; want seed", c.Query, err)
	}
	_, err = parse([]string{"-query", "nope", "-readings", "0"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `-query "nope": want one of `) || !strings.Contains(err.Error(), "seed") ||
		!strings.Contains(err.Error(), "-readings 0") {
		t.Fatalf("err = %v, want both problems", err)
	}
}
