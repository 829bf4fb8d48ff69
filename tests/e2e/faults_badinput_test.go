package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
)

// maxMessageBytes is the broker's and the clients' message size limit in
// the bad-input fault: 2 MiB, so that a 1 MiB value reaches the streamer.
// Kafka's default (message.max.bytes 1048588) refuses a 1 MiB value at the
// broker; see docs/faults.md.
const maxMessageBytes = 2 << 20

// badRecord is one record of the bad-input fault and the reason the
// streamer must give it (empty: a valid reading).
type badRecord struct {
	kind  string
	value []byte
	want  contract.Reason
}

// badRecords builds one record of every kind of bad input docs/faults.md lists, and
// the two odd-but-valid ones (extra fields; sent without a key), stamped at
// tsMs (within the watermark of the stream they are mixed into).
func badRecords(tsMs int64) []badRecord {
	ts := strconv.FormatInt(tsMs, 10)
	rec := func(repl ...string) []byte {
		return []byte(strings.NewReplacer(repl...).Replace(
			`{"sensor_id":"S001","ts":` + ts + `,"temp":20.5,"hum":50.25,"ok":true}`))
	}
	future := strconv.FormatInt(time.Now().Add(72*time.Hour).UnixMilli(), 10)
	return []badRecord{
		{"malformed JSON", []byte(`{"sensor_id":"S001","ts":` + ts + `,"temp":`), contract.ReasonMalformedJSON},
		{"not an object", []byte(`["S001",` + ts + `]`), contract.ReasonNotObject},
		{"missing field", rec(`,"hum":50.25`, ``), contract.ReasonMissingField},
		{"null field", rec(`true`, `null`), contract.ReasonMissingField},
		{"wrong type: ts as a string", rec(`"ts":`+ts, `"ts":"`+ts+`"`), contract.ReasonWrongType},
		{"wrong type: ok as a number", rec(`true`, `1`), contract.ReasonWrongType},
		{"NaN", rec(`20.5`, `NaN`), contract.ReasonMalformedJSON},
		{"Infinity", rec(`50.25`, `Infinity`), contract.ReasonMalformedJSON},
		{"number beyond float64", rec(`20.5`, `1e400`), contract.ReasonOutOfRange},
		{"temp out of range", rec(`20.5`, `1000`), contract.ReasonOutOfRange},
		{"hum out of range", rec(`50.25`, `-3`), contract.ReasonOutOfRange},
		{"ts beyond int64", rec(`"ts":`+ts, `"ts":99999999999999999999`), contract.ReasonOutOfRange},
		{"ts far in the future", rec(`"ts":`+ts, `"ts":`+future), contract.ReasonTSOutOfRange},
		{"ts before 2000", rec(`"ts":`+ts, `"ts":946684799999`), contract.ReasonTSOutOfRange},
		{"ts in epoch seconds", rec(`"ts":`+ts, `"ts":`+ts[:10]), contract.ReasonTSOutOfRange},
		{"non-UTF-8 bytes", rec(`"S001"`, "\"S\xff\xfe1\""), contract.ReasonInvalidUTF8},
		{"empty sensor_id", rec(`"S001"`, `""`), contract.ReasonBadSensorID},
		{"1 MiB value", append(append([]byte(`{"sensor_id":"S001","pad":"`), bytes.Repeat([]byte("x"), 1<<20)...), `"}`...), contract.ReasonTooLarge},
		{"accepted: extra fields", rec(`"ok":true`, `"ok":true,"fw":"2.1.0","loc":{"lat":4.6,"lon":-74.1}`), ""},
		{"accepted: no key", rec(`"S001"`, `"S002"`), ""},
	}
}

// kcatProduce sends values, one message each and without a key, with kcat
// (librdkafka): a real client other than franz-go.
func kcatProduce(t *testing.T, ctx context.Context, broker string, values [][]byte) {
	t.Helper()
	bin, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is not installed (apt-get install kcat; CI installs it): %v", err)
	}
	// A delimiter that none of the values holds: messages may contain newlines.
	const delim = "\x01\x02\x03"
	var in bytes.Buffer
	for _, v := range values {
		if bytes.Contains(v, []byte(delim)) {
			t.Fatalf("value holds the delimiter")
		}
		in.Write(v)
		in.WriteString(delim)
	}
	args := []string{"-P", "-b", broker, "-t", contract.EventsTopic, "-D", delim,
		"-X", "message.max.bytes=" + strconv.Itoa(maxMessageBytes)}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat %v: %v\n%s", args, err, out)
	}
}

// faultBadInput sends every kind of bad input, with kcat and with franz-go,
// into a stream of good readings while a continuous streamer runs: each must
// be in the dead-letter topic with its reason, the odd-but-valid ones must be
// aggregated, and the streamer must stay up and ready throughout.
func faultBadInput(t *testing.T, plan faultPlan, rep *faultReport) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p := newKfakePipeline(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(maxMessageBytes)}))
	s, surl := p.streamerHTTP()

	first := faultStream{count: 4000, seed: plan.Seed + 600, startMs: originMs, step: 20 * time.Millisecond}
	sent := produced(t, ctx, p.producer(first.args()...))
	awaitStatus(t, ctx, "streamer", surl+"/readyz", 200, time.Minute)

	// Bad records stamped at the stream's current end: within the watermark.
	bad := badRecords(first.startMs + int64(first.count)*first.step.Milliseconds())
	var viaKcat [][]byte
	var viaKgo []*kgo.Record
	for i, b := range bad {
		if i%2 == 0 {
			viaKcat = append(viaKcat, b.value)
		} else {
			viaKgo = append(viaKgo, &kgo.Record{Topic: contract.EventsTopic, Value: b.value})
		}
	}
	kcatProduce(t, ctx, p.brokers[0], viaKcat)
	// kcat skips empty messages: the empty and the NULL value (a tombstone)
	// go through franz-go.
	viaKgo = append(viaKgo, &kgo.Record{Topic: contract.EventsTopic, Key: []byte("S003"), Value: []byte{}},
		&kgo.Record{Topic: contract.EventsTopic, Key: []byte("S004")})
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.brokers...), kgo.ProducerBatchMaxBytes(maxMessageBytes))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, viaKgo...).FirstErr(); err != nil {
		t.Fatalf("produce bad records: %v", err)
	}
	injected := int64(len(bad) + 2)

	second := first.next(4000)
	sent += produced(t, ctx, p.producer(second.args()...))
	waitInvalid(t, ctx, s, injected-2) // all but the two valid ones
	if s.exited() {
		t.Fatalf("streamer stopped on bad input:\n%s", s.Tail())
	}
	awaitStatus(t, ctx, "streamer", surl+"/readyz", 200, time.Minute)
	s.term(t)
	s.mustSucceed(t, ctx)
	p.streamer().mustSucceed(t, ctx)

	recs := p.eventsOf(ctx)
	checkSent(t, sent+injected, recs)
	row := faultRow{Fault: "bad input", Injected: int(injected), Produced: sent + injected,
		Note: fmt.Sprintf("%d records, one per kind (kcat and franz-go; a NULL and an empty value; a 1 MiB value under a 2 MiB broker limit); "+
			"extra fields and no key accepted", len(bad)+2)}
	p.finish(ctx, rep, row, recs)

	// Each kind has its reason in the dead-letter topic (finish checked the
	// counts against the reference decoder; here against the list).
	dl := map[string]int{}
	for _, r := range topicRecords(t, ctx, p.brokers, contract.DLQTopic, true) {
		for _, h := range r.Headers {
			if h.Key == contract.HeaderReason {
				dl[string(h.Value)]++
			}
		}
	}
	want := map[contract.Reason]int{contract.ReasonEmpty: 2}
	for _, b := range bad {
		if b.want != "" {
			want[b.want]++
		}
	}
	for reason, n := range want {
		if dl[string(reason)] < n {
			t.Errorf("dead letters with reason %s: %d, want at least %d (all: %v)", reason, dl[string(reason)], n, dl)
		}
	}
}

// waitInvalid waits until the streamer's committed batches count n invalid
// records, within two minutes.
func waitInvalid(t *testing.T, ctx context.Context, s *proc, n int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var got int64
	for got < n {
		select {
		case <-ctx.Done():
			t.Fatalf("the streamer committed %d invalid records, want %d:\n%s", got, n, s.Tail())
		case line, ok := <-s.lines:
			if !ok {
				t.Fatalf("the streamer exited after %d of %d invalid records:\n%s", got, n, s.Tail())
			}
			var b struct {
				Msg     string `json:"msg"`
				Invalid int64  `json:"invalid_rows"`
			}
			if json.Unmarshal([]byte(line), &b) == nil && b.Msg == "batch committed" {
				got += b.Invalid
			}
		}
	}
}
