package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/tests/e2e/internal/deltaread"
)

// TestTwoStreamersOneCheckpoint starts two streamers on one checkpoint and
// one lake while the producer sends, as a second `docker compose up` or a
// restarted container whose old process still runs would: one must stop
// with an error naming the checkpoint (exit 1), the other must go on and
// stop cleanly, and the lake must equal the reference exactly.
func TestTwoStreamersOneCheckpoint(t *testing.T) {
	for _, c := range []struct {
		name string
		// after is how many commits the first streamer makes before the
		// second starts (0: right after it).
		after int
		seed  uint64
	}{
		{"second right after the first", 0, 51},
		{"second mid-run", 4, 52},
	} {
		t.Run(c.name, func(t *testing.T) { twoStreamers(t, c.after, c.seed) })
	}
}

func twoStreamers(t *testing.T, after int, seed uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := newPipeline(t, true)
	stream := faultStream{count: 12_000, seed: seed, startMs: originMs, step: 20 * time.Millisecond, invalid: true}
	pr := p.producer(append(stream.args(), "--rate", "1500")...)
	args := []string{"--trigger", "0", "--max-offsets-per-trigger", "300"}
	first := p.streamer(args...)
	if after > 0 && !first.waitLine(ctx, after, `"batch committed"`) {
		t.Fatalf("the first streamer ended before %d commits:\n%s", after, first.Tail())
	}
	if pr.exited() {
		t.Fatal("the producer finished before the second streamer started: the streamers would not overlap while data flows")
	}
	second := p.streamer(args...)

	// One of them must refuse, while the producer still sends or soon after.
	var loser, survivor *proc
	select {
	case err := <-first.done:
		first.done <- err
		loser, survivor = first, second
	case err := <-second.done:
		second.done <- err
		loser, survivor = second, first
	case <-ctx.Done():
		t.Fatalf("both streamers ran on one checkpoint without either refusing:\nfirst:\n%s\nsecond:\n%s", first.Tail(), second.Tail())
	}
	which := map[*proc]string{first: "the first", second: "the second"}
	if code := loser.wait(t, ctx); code != 1 {
		t.Fatalf("%s streamer exited %d, want 1:\n%s", which[loser], code, loser.Tail())
	}
	errOut := loser.Stderr()
	for _, want := range []string{"_checkpoints/streamer", "in use by another streamer", "batch"} {
		if !strings.Contains(errOut, want) {
			t.Fatalf("%s streamer's error does not say %q; its stderr:\n%s", which[loser], want, lastLines([]byte(errOut), 10))
		}
	}
	if survivor.exited() {
		t.Fatalf("%s streamer stopped too:\n%s", which[survivor], survivor.Tail())
	}
	t.Logf("%s streamer refused (exit 1): %s", which[loser], lastLines([]byte(errOut), 1))

	sent := produced(t, ctx, pr)
	survivor.term(t)
	survivor.mustSucceed(t, ctx)
	p.streamer().mustSucceed(t, ctx) // what the final watermark closes
	recs := p.eventsOf(ctx)
	checkSent(t, sent, recs)
	p.batch(ctx)
	p.verifyRecords(ctx, recs)
	if r := readStream(t, ctx, p.store, -1); len(r.Snap.Txns) != 1 {
		t.Fatalf("stream table txns %v: one query wrote it, so one appId", r.Snap.Txns)
	}
}

// TestStreamerAndOptimize runs `batcher optimize` in a loop while a
// streamer appends and data flows: every optimize and the streamer must
// succeed (an OPTIMIZE of other files and a blind append do not conflict),
// the final lake must equal the reference, and the optimize commits must
// show in `batcher history --json`, between streaming commits.
func TestStreamerAndOptimize(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	p := newPipeline(t, true)
	stream := faultStream{count: 15_000, seed: 61, startMs: originMs, step: 20 * time.Millisecond, invalid: true}
	pr := p.producer(append(stream.args(), "--rate", "1500")...)
	s := p.streamer("--trigger", "0", "--max-offsets-per-trigger", "200")
	waitFor(t, ctx, "the stream table's first commit", func() (bool, string) {
		if s.exited() {
			t.Fatalf("the streamer exited:\n%s", s.Tail())
		}
		_, err := deltaread.Latest(ctx, p.store, streamTable)
		return err == nil, fmt.Sprint(err)
	})
	runs := 0
	for !pr.exited() {
		// Paced by the streamer: an optimize after every two of its
		// commits, until the producer is done.
		for commits := 0; commits < 2 && !pr.exited(); {
			select {
			case line, ok := <-s.lines:
				if !ok {
					t.Fatalf("the streamer stopped:\n%s", s.Tail())
				}
				if strings.Contains(line, `"batch committed"`) {
					commits++
				}
			case err := <-pr.done:
				pr.done <- err
			case <-ctx.Done():
				t.Fatalf("the streamer made no commit: %v\n%s", ctx.Err(), s.Tail())
			}
		}
		p.maintain(ctx, "optimize")
		runs++
	}
	sent := produced(t, ctx, pr)
	s.term(t)
	s.mustSucceed(t, ctx)
	p.streamer().mustSucceed(t, ctx)
	recs := p.eventsOf(ctx)
	checkSent(t, sent, recs)
	p.batch(ctx)
	p.verifyRecords(ctx, recs)

	hist, err := deltaread.History(ctx, p.store, streamTable)
	if err != nil {
		t.Fatal(err)
	}
	var optimizes []int64
	lastStream := int64(-1)
	raced := 0 // commits made on a snapshot older than the version before them
	for _, c := range hist {
		if n, ok := c.CommitInfo["readVersion"].(json.Number); ok {
			if rv, err := n.Int64(); err == nil && rv < c.Version-1 {
				raced++
			}
		}
		switch c.Operation() {
		case "OPTIMIZE":
			optimizes = append(optimizes, c.Version)
			for _, r := range c.Removes {
				if r.DataChange {
					t.Fatalf("OPTIMIZE at version %d removes %s with dataChange=true", c.Version, r.Path)
				}
			}
			for _, a := range c.Adds {
				if a.DataChange {
					t.Fatalf("OPTIMIZE at version %d adds %s with dataChange=true", c.Version, a.Path)
				}
			}
		case "STREAMING UPDATE":
			lastStream = c.Version
		}
	}
	if len(optimizes) == 0 || optimizes[0] > lastStream {
		t.Fatalf("OPTIMIZE commits at %v, last streaming commit at %d: no optimize ran between streaming commits (%d runs)",
			optimizes, lastStream, runs)
	}
	if raced == 0 {
		t.Fatalf("no commit of %d was made while another committed: the streamer and optimize never overlapped", len(hist))
	}
	// `batcher history --json` shows the same OPTIMIZE commits.
	out := p.maintain(ctx, "history", "--table", streamTable, "--json").Stdout()
	var shown []int64
	for _, e := range batcherJSON(t, out) {
		if e["operation"] == "OPTIMIZE" {
			v, _ := e["version"].(float64)
			shown = append(shown, int64(v))
		}
	}
	if fmt.Sprint(reversed(shown)) != fmt.Sprint(optimizes) {
		t.Fatalf("batcher history --json shows OPTIMIZE at versions %v, the log holds them at %v", shown, optimizes)
	}
	t.Logf("%d optimize runs while streaming: %d OPTIMIZE commits (versions %v) among %d versions; "+
		"%d commits were made on an older snapshot than the version before them (a concurrent commit came between)",
		runs, len(optimizes), optimizes, len(hist), raced)
}

// reversed returns s newest first as oldest first (history is newest first).
func reversed(s []int64) []int64 {
	out := make([]int64, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}
