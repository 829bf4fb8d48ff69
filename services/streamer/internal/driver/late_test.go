package driver

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
)

// A source with late_topic forwards every record whose event time is at or
// before the batch's watermark there, once, with the reason and where it
// came from, instead of dropping it; the stream table has none of them and
// a re-run forwards nothing again.
func TestLateRecordsGoToTheLateTopicOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w := newWorld(t, contract.EventsTopic)
	rng := rand.New(rand.NewPCG(8, 9))
	// Two minutes of readings: the watermark reaches origin+59.9 s.
	onTime := readings(rng, origin, 1200)
	w.send(ctx, contract.EventsTopic, onTime...)
	script := seedScript(t)
	if err := w.run(ctx, w.config(), script, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	// Readings 10 to 15 s after the origin are late now; one a minute and
	// a half later is not, and one decoded badly is a dead letter, not late.
	late := readings(rng, origin+10_000, 50)
	w.send(ctx, contract.EventsTopic, append(append(late, readings(rng, origin+130_000, 1)...), []byte(`{"sensor_id":"S001"`))...)
	if err := w.run(ctx, w.config(), script, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.run(ctx, w.config(), script, io.Discard, nil); err != nil {
		t.Fatal(err)
	}

	got := committed(t, ctx, w.brokers, contract.LateTopic)
	if len(got) != len(late) {
		t.Fatalf("late topic holds %d records, want the %d late readings", len(got), len(late))
	}
	want := map[string]int{}
	for _, v := range late {
		want[string(v)]++
	}
	for _, r := range got {
		if want[string(r.Value)] == 0 {
			t.Fatalf("late topic holds %s, which is not a late reading (or is there twice)", r.Value)
		}
		want[string(r.Value)]--
		if header(r, contract.HeaderReason) != "late" || header(r, contract.HeaderSourceTopic) != contract.EventsTopic ||
			header(r, contract.HeaderSourceOffset) == "" {
			t.Fatalf("late record %s: headers %v, want reason late and its source topic and offset", r.Value, r.Headers)
		}
	}
	// The stream table counts only the on-time readings of the windows
	// the late ones fell in.
	rows := streamRows(t, ctx, w.store)
	var n10to20 int64
	for _, r := range rows {
		if r.WinStart.UnixMilli() == origin+10_000 {
			n10to20 += r.Eventos
		}
	}
	var inWindow int64
	for _, v := range onTime {
		if bytes.Contains(v, []byte(`"ts":173220001`)) { // origin+10 s to origin+20 s
			inWindow++
		}
	}
	if n10to20 != inWindow {
		t.Fatalf("window [10 s, 20 s) counts %d readings, want the %d on-time ones", n10to20, inWindow)
	}
}
