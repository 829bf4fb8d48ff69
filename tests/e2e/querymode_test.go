package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/tests/e2e/internal/deltaread"
)

// The streamer runs a SQL script: the embedded seed lab's by default, the
// file --query names otherwise. These tests run it as a user does: the
// binaries as processes, the script from the repository, a broker and MinIO.

// wantStreamNullable is whether each column of the stream table (in
// wantStreamSchema's order) is nullable in its Delta schema: the window
// row's nine columns NOT NULL (contract.WindowColumns), the partition column
// date nullable.
var wantStreamNullable = []bool{false, false, false, false, false, false, false, false, false, true}

// maxShown bounds the differences a failure lists: the first ones say
// enough, the count says the rest.
const maxShown = 15

// seedArgs are the producer's flags for the query mode's stream: the same
// kinds of readings as TestSeedParity (duplicates, out-of-order readings
// within the watermark, invalid records), fewer of them.
var seedArgs = []string{"--count", "30000", "--seed", "42", "--start-time", origin, "--step", "20ms",
	"--invalid-fraction", "0.01", "--duplicate-fraction", "0.01", "--late-fraction", "0.02", "--late-by", "20s"}

// TestQueryMode runs the seed lab as a query file
// (queries/seed/streaming.sql) through producer → broker → streamer
// --query, killing the streamer with SIGKILL mid-stream once and restarting
// it, and checks what a user of the seed would: the stream table (through
// the independent Delta reader) holds exactly the reference windows, with
// the seed's schema and partitioning, and bit for bit the values of an
// uninterrupted run cut into other batches; the batcher consolidates it; the
// alerts topic holds exactly one high_temp alert per window above the
// threshold, with the fields the script writes; the dead-letter topic holds
// each invalid record once with its reason. Then the word count example
// (queries/examples/wordcount.sql) prints the expected counts each batch.
func TestQueryMode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	root := repoRoot(t)
	seedScript := filepath.Join(root, "queries", "seed", "streaming.sql")

	p := newPipeline(t, true)
	p.produce(ctx, seedArgs...)
	const maxOffsets = "2000"

	// One SIGKILL after a few commits, at a seeded delay that lands
	// anywhere in the next batch (planning, sink writes, the Kafka
	// transaction, the checkpoint).
	seed := uint64(20261121)
	if s, err := strconv.ParseUint(os.Getenv("SENSORLAB_CRASH_SEED"), 10, 64); err == nil {
		seed = s
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	const killAfter = 4
	s := p.streamer("--query", seedScript, "--max-offsets-per-trigger", maxOffsets)
	if !s.waitLine(ctx, killAfter, `"batch committed"`) {
		t.Fatalf("streamer --query ended before commit %d:\n%s", killAfter, s.Tail())
	}
	delay := time.Duration(rng.IntN(40_000)) * time.Microsecond
	time.Sleep(delay)
	s.kill(t)
	t.Logf("streamer --query killed after %d commits + %v (seed %d)", killAfter, delay, seed)

	r := p.streamer("--query", seedScript, "--max-offsets-per-trigger", maxOffsets)
	r.mustSucceed(t, ctx)
	// The restart went on from the checkpoint: it did not start over.
	if started := logRecords(r.Stderr(), "query started"); len(started) != 1 {
		t.Fatalf("restarted streamer logged %d \"query started\" lines, want 1:\n%s", len(started), r.Tail())
	} else if next, _ := started[0]["next_batch"].(float64); next < killAfter {
		t.Fatalf("restarted streamer started at batch %v, but %d batches had committed: it did not resume from its checkpoint",
			started[0]["next_batch"], killAfter)
	}
	t.Logf("restarted streamer: %d batches planned before the kill re-run, then %d committed",
		len(logRecords(r.Stderr(), "re-running a batch planned before the restart")), len(logRecords(r.Stderr(), "batch committed")))

	recs := topicRecords(t, ctx, p.brokers, contract.EventsTopic, false)
	valid, invalid := reference(recs)
	want := closedWindows(valid, windowMs, delayMs)
	mins := minTemps(valid, want)

	// (1), (2): the stream table, read as a Delta reader reads it
	// (readStream: deltaread, agreeing with lake/delta; names and types;
	// partitioned by date; each file's partition value and stats).
	st := readStream(t, ctx, p.store, -1)
	if len(st.Dups) > 0 {
		t.Fatalf("the stream table holds %d window rows twice after the kill and restart, e.g.:\n%s",
			len(st.Dups), strings.Join(st.Dups[:min(len(st.Dups), maxShown)], "\n"))
	}
	checkNullability(t, st.Snap)
	if d := windowDiffs(st.Rows, want, mins); len(d) > 0 {
		t.Fatalf("stream table written by streamer --query differs from the reference windows (%d differences):\n%s",
			len(d), shown(d))
	}
	// The same readings through a streamer never killed, cut into other
	// batches: the rows do not depend on batch boundaries nor on the crash,
	// bit for bit.
	other := uninterruptedStream(t, ctx, "700")
	if d := bitDiffs(st.Rows, other); len(d) > 0 {
		t.Fatalf("stream table of --query %s (killed once, batches of %s records) differs from an uninterrupted run's in batches of 700 (%d differences):\n%s",
			seedScript, maxOffsets, len(d), shown(d))
	}
	var accepted int64
	for _, w := range want {
		accepted += w.n
	}
	p.batch(ctx)
	checkBatch(t, ctx, p.store, consolidate(want), accepted, p.batchRuns)

	// (3) alerts, (and the dead letters the script's source sends).
	high := checkQueryAlerts(t, ctx, p.brokers, want)
	dead := checkDeadLetters(t, ctx, p.brokers, invalid)
	t.Logf("query mode: readings valid=%d invalid=%d; windows=%d (all equal the reference, bit-equal to an uninterrupted run); "+
		"high_temp alerts=%d; dead letters=%v", len(valid), len(recs)-len(valid), len(want), high, dead)

	// (5) word count on the console.
	checkWordCount(t, ctx, p, filepath.Join(root, "queries", "examples", "wordcount.sql"))
}

// logRecords returns the JSON log lines of a process's stderr whose msg is
// msg.
func logRecords(stderr, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(stderr, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// shown renders the first differences, one a line, and how many more.
func shown(d []string) string {
	s := strings.Join(d[:min(len(d), maxShown)], "\n")
	if len(d) > maxShown {
		s += fmt.Sprintf("\n… and %d more", len(d)-maxShown)
	}
	return s
}

// minTemps returns the minimum temperature of each reference window.
func minTemps(evs []contract.Event, want map[winKey]winAgg) map[winKey]float64 {
	out := map[winKey]float64{}
	for _, e := range evs {
		k := winKey{e.TS - e.TS%windowMs, e.SensorID}
		if _, ok := want[k]; !ok {
			continue
		}
		if m, seen := out[k]; !seen || e.Temp < m {
			out[k] = e.Temp
		}
	}
	return out
}

// checkNullability compares the stream table's Delta schema, column by
// column, with the seed's: names, types and nullability.
func checkNullability(t testing.TB, snap *deltaread.Snapshot) {
	t.Helper()
	var got, want []string
	for i, f := range snap.Metadata.Schema {
		got = append(got, fmt.Sprintf("%s %s nullable=%v", f.Name, f.Type, f.Nullable))
		if i < len(wantStreamSchema) {
			want = append(want, fmt.Sprintf("%s nullable=%v", wantStreamSchema[i], wantStreamNullable[i]))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("stream table schema in its Delta log:\n  %s\nwant the seed's:\n  %s",
			strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// windowDiffs compares the table's window rows with the reference: the
// same windows, counts and bounds exactly, min and max temperatures bit
// for bit, the means within 1e-9 (the reference sums in topic order, the
// streamer batch by batch).
func windowDiffs(got map[winKey]contract.WindowRow, want map[winKey]winAgg, mins map[winKey]float64) []string {
	var d []string
	for _, k := range sortedKeys(want) {
		w := want[k]
		r, ok := got[k]
		name := fmt.Sprintf("window (%s, %s)", time.UnixMilli(k.start).UTC().Format(time.RFC3339), k.sensor)
		if !ok {
			d = append(d, name+": missing from the table")
			continue
		}
		var f []string
		check := func(field string, ok bool, g, w any) {
			if !ok {
				f = append(f, fmt.Sprintf("%s=%v (want %v)", field, g, w))
			}
		}
		check("win_start", r.WinStart.UnixMilli() == k.start && r.WinStart.Nanosecond()%1e6 == 0, r.WinStart.UTC(), time.UnixMilli(k.start).UTC())
		check("win_end", r.WinEnd.UnixMilli() == k.start+windowMs && r.WinEnd.Nanosecond()%1e6 == 0, r.WinEnd.UTC(), time.UnixMilli(k.start+windowMs).UTC())
		check("eventos", r.Eventos == w.n, r.Eventos, w.n)
		check("ok_count", r.OKCount == w.ok, r.OKCount, w.ok)
		check("avg_temp", close9(r.AvgTemp, w.sumT/float64(w.n)), r.AvgTemp, w.sumT/float64(w.n))
		check("avg_hum", close9(r.AvgHum, w.sumH/float64(w.n)), r.AvgHum, w.sumH/float64(w.n))
		check("min_temp", math.Float64bits(r.MinTemp) == math.Float64bits(mins[k]), r.MinTemp, mins[k])
		check("max_temp", math.Float64bits(r.MaxTemp) == math.Float64bits(w.maxT), r.MaxTemp, w.maxT)
		if len(f) > 0 {
			d = append(d, name+": "+strings.Join(f, ", "))
		}
	}
	for _, k := range sortedKeys(got) {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("window (%s, %s): in the table, not a closed window of the reference: %+v",
				time.UnixMilli(k.start).UTC().Format(time.RFC3339), k.sensor, got[k]))
		}
	}
	return d
}

// sortedKeys returns a window map's keys by start, then sensor.
func sortedKeys[V any](m map[winKey]V) []winKey {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b winKey) int {
		if a.start != b.start {
			return int(a.start - b.start)
		}
		return strings.Compare(a.sensor, b.sensor)
	})
	return keys
}

// uninterruptedStream runs the same producer input through the streamer's
// default queries (the embedded seed file) on a broker and lake of its own,
// in batches of maxOffsets records, and returns its stream table's rows.
func uninterruptedStream(t *testing.T, ctx context.Context, maxOffsets string) map[winKey]contract.WindowRow {
	t.Helper()
	b := newPipeline(t, false)
	b.produce(ctx, seedArgs...)
	b.streamer("--max-offsets-per-trigger", maxOffsets).mustSucceed(t, ctx)
	return streamRows(t, ctx, b.store)
}

// bitDiffs compares two stream tables' rows bit for bit.
func bitDiffs(got, want map[winKey]contract.WindowRow) []string {
	var d []string
	bits := math.Float64bits
	for _, k := range sortedKeys(want) {
		w := want[k]
		g, ok := got[k]
		name := fmt.Sprintf("window (%s, %s)", time.UnixMilli(k.start).UTC().Format(time.RFC3339), k.sensor)
		switch {
		case !ok:
			d = append(d, name+": missing; the other run wrote it")
		case !g.WinStart.Equal(w.WinStart) || !g.WinEnd.Equal(w.WinEnd) || g.SensorID != w.SensorID ||
			g.Eventos != w.Eventos || g.OKCount != w.OKCount || bits(g.AvgTemp) != bits(w.AvgTemp) ||
			bits(g.AvgHum) != bits(w.AvgHum) || bits(g.MinTemp) != bits(w.MinTemp) || bits(g.MaxTemp) != bits(w.MaxTemp):
			d = append(d, fmt.Sprintf("%s:\n  this run %+v\n  other    %+v", name, g, w))
		}
	}
	for _, k := range sortedKeys(got) {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("window (%d, %s): the other run did not write it: %+v", k.start, k.sensor, got[k]))
		}
	}
	return d
}

// queryAlertFields are the columns the seed script's alerts query writes,
// in its order.
var queryAlertFields = []string{"type", "sensor_id", "ts", "win_start", "win_end", "max_temp", "threshold"}

// checkQueryAlerts reads the alerts topic as a read_committed consumer and
// checks that it holds exactly one high_temp alert per reference window
// whose max_temp exceeds the threshold, none for the others, each with the
// script's fields and values and keyed by sensor_id. It returns how many.
func checkQueryAlerts(t testing.TB, ctx context.Context, brokers []string, closed map[winKey]winAgg) int {
	t.Helper()
	var d []string
	seen := map[winKey]string{}
	recs := topicRecords(t, ctx, brokers, contract.AlertsTopic, true)
	for _, r := range recs {
		dec := json.NewDecoder(bytes.NewReader(r.Value))
		dec.UseNumber()
		var a map[string]any
		if err := dec.Decode(&a); err != nil {
			d = append(d, fmt.Sprintf("alert %q (partition %d offset %d): not a JSON object: %v", r.Value, r.Partition, r.Offset, err))
			continue
		}
		if got := slices.Sorted(maps.Keys(a)); !slices.Equal(got, slices.Sorted(slices.Values(queryAlertFields))) {
			d = append(d, fmt.Sprintf("alert %s: fields %v, want %v", r.Value, got, queryAlertFields))
			continue
		}
		num := func(f string) json.Number { n, _ := a[f].(json.Number); return n }
		typ, _ := a["type"].(string)
		sensor, _ := a["sensor_id"].(string)
		ts, err1 := num("ts").Int64()
		ws, err2 := num("win_start").Int64()
		we, err3 := num("win_end").Int64()
		maxT, err4 := strconv.ParseFloat(num("max_temp").String(), 64)
		thr, err5 := strconv.ParseFloat(num("threshold").String(), 64)
		if err := cmpErr(err1, err2, err3, err4, err5); err != nil {
			d = append(d, fmt.Sprintf("alert %s: %v", r.Value, err))
			continue
		}
		var bad []string
		if typ != "high_temp" {
			bad = append(bad, fmt.Sprintf("type %q, want high_temp", typ))
		}
		if string(r.Key) != sensor {
			bad = append(bad, fmt.Sprintf("record key %q, want the sensor_id %q", r.Key, sensor))
		}
		if we != ws+windowMs || ts != we {
			bad = append(bad, fmt.Sprintf("ts=%d win_start=%d win_end=%d, want win_end = ts = win_start + %d", ts, ws, we, windowMs))
		}
		if thr != alertThreshold {
			bad = append(bad, fmt.Sprintf("threshold %v, want %v", thr, alertThreshold))
		}
		k := winKey{ws, sensor}
		w, ok := closed[k]
		switch {
		case !ok:
			bad = append(bad, "no closed window of the reference")
		case w.maxT <= alertThreshold:
			bad = append(bad, fmt.Sprintf("the window's max_temp %v does not exceed %v", w.maxT, alertThreshold))
		case math.Float64bits(maxT) != math.Float64bits(w.maxT):
			bad = append(bad, fmt.Sprintf("max_temp %v, reference %v", maxT, w.maxT))
		}
		if prev, dup := seen[k]; dup {
			bad = append(bad, "a second alert for the window, after "+prev)
		}
		seen[k] = string(r.Value)
		if len(bad) > 0 {
			d = append(d, fmt.Sprintf("alert %s: %s", r.Value, strings.Join(bad, "; ")))
		}
	}
	high := 0
	for _, k := range sortedKeys(closed) {
		if w := closed[k]; w.maxT > alertThreshold {
			high++
			if _, ok := seen[k]; !ok {
				d = append(d, fmt.Sprintf("no alert for window (%s, %s) with max_temp %v",
					time.UnixMilli(k.start).UTC().Format(time.RFC3339), k.sensor, w.maxT))
			}
		}
	}
	if len(d) > 0 {
		t.Fatalf("alerts topic %s (%d committed records, %d reference windows above %v): %d differences:\n%s",
			contract.AlertsTopic, len(recs), high, alertThreshold, len(d), shown(d))
	}
	if high == 0 {
		t.Fatalf("no reference window exceeds %v: the stream proves nothing about alerts", alertThreshold)
	}
	return high
}

func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkDeadLetters checks that every invalid record is in the dead-letter
// topic exactly once (read_committed) with the reference decoder's reason,
// and returns the dead letters by reason.
func checkDeadLetters(t testing.TB, ctx context.Context, brokers []string, invalid map[string]int) map[string]int {
	t.Helper()
	dlq := map[string]string{}
	for _, r := range topicRecords(t, ctx, brokers, contract.DLQTopic, true) {
		h := map[string]string{}
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		src := h[contract.HeaderSourcePartition] + "@" + h[contract.HeaderSourceOffset]
		if _, dup := dlq[src]; dup {
			t.Fatalf("record %s is in the dead-letter topic twice", src)
		}
		dlq[src] = h[contract.HeaderReason]
	}
	byReason := map[string]int{}
	for _, r := range dlq {
		byReason[r]++
	}
	if fmt.Sprint(byReason) != fmt.Sprint(invalid) {
		t.Fatalf("dead letters by reason %v, reference %v", byReason, invalid)
	}
	return byReason
}

// checkWordCount fills a topic `lines` with text lines (with kcat, as the
// example's comment says), runs the word count script with a checkpoint of
// its own, a few lines per batch, and checks every batch the console
// printed: the whole table (complete mode) of the counts over every line
// read up to that batch, by count descending then word.
func checkWordCount(t *testing.T, ctx context.Context, p *pipeline, script string) {
	t.Helper()
	const topic = "lines"
	adm := kadm.NewClient(mustClient(t, p.brokers))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	// Lines of words from a small vocabulary (the table fits the console's
	// 20 rows), separated by one or two spaces, some with leading or
	// trailing spaces and some empty: split gives empty words, which the
	// script drops.
	vocab := []string{"the", "cat", "sat", "on", "mat", "a", "dog", "ran", "to", "sun", "über", "naïve"}
	rng := rand.New(rand.NewPCG(16, 16))
	lines := make([]string, 120)
	for i := range lines {
		var b strings.Builder
		if rng.IntN(8) == 0 {
			b.WriteString(" ")
		}
		for j := range rng.IntN(7) {
			if j > 0 {
				b.WriteString(strings.Repeat(" ", 1+rng.IntN(2)))
			}
			b.WriteString(vocab[rng.IntN(len(vocab))])
		}
		if rng.IntN(8) == 0 {
			b.WriteString(" ")
		}
		lines[i] = b.String()
	}
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is not installed (apt-get install kcat): %v", err)
	}
	// kcat -P sends each line of its input as one message; an empty line is
	// an empty message, which kcat skips: every line sent here has a
	// character, and the empty ones are counted as kcat sends them.
	var in bytes.Buffer
	for i, l := range lines {
		if l == "" {
			lines[i] = " "
		}
		in.WriteString(lines[i] + "\n")
	}
	cmd := exec.CommandContext(ctx, kcat, "-P", "-b", p.brokers[0], "-t", topic)
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P -t %s: %v\n%s", topic, err, out)
	}
	sent := topicRecords(t, ctx, p.brokers, topic, false)
	if len(sent) != len(lines) {
		t.Fatalf("topic %s holds %d records, kcat was given %d lines", topic, len(sent), len(lines))
	}
	slices.SortFunc(sent, func(a, b *kgo.Record) int { return int(a.Offset - b.Offset) })

	s := p.streamer("--query", script, "--checkpoint", p.lakeURL+"/_checkpoints/wordcount",
		"--max-offsets-per-trigger", "25")
	s.mustSucceed(t, ctx)

	// Rows read up to and including each batch, from the commits' logs.
	read := map[int64]int{}
	total := 0
	commits := logRecords(s.Stderr(), "batch committed")
	for _, c := range commits {
		id, _ := c["batch_id"].(float64)
		n, _ := c["input_rows"].(float64)
		total += int(n)
		read[int64(id)] = total
	}
	if total != len(lines) {
		t.Fatalf("word count streamer read %d rows in %d batches, the topic holds %d lines:\n%s", total, len(commits), len(lines), s.Tail())
	}
	batches := consoleTables(t, s.Stdout())
	if len(batches) < 2 {
		t.Fatalf("word count printed %d batches, want one per batch of at most 25 lines (%d lines):\n%s",
			len(batches), len(lines), s.Stdout())
	}
	var last []string
	for _, b := range batches {
		n, ok := read[b.id]
		if !ok {
			t.Fatalf("the console printed batch %d, which no commit logged (commits: %v)", b.id, read)
		}
		want := wordCountTable(sent[:n])
		if !slices.Equal(b.rows, want) {
			t.Fatalf("word count batch %d (after %d lines) printed:\n  %s\nwant the whole table over those lines, by count then word:\n  %s",
				b.id, n, strings.Join(b.rows, "\n  "), strings.Join(want, "\n  "))
		}
		last = b.rows
	}
	if want := wordCountTable(sent); !slices.Equal(last, want) {
		t.Fatalf("word count's last batch printed:\n  %s\nwant every line's counts:\n  %s", strings.Join(last, "\n  "), strings.Join(want, "\n  "))
	}
	t.Logf("word count: %d lines in %d batches; last table %v", len(lines), len(batches), last)
}

// mustClient returns a Kafka client of brokers, closed with the test.
func mustClient(t testing.TB, brokers []string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// wordCountTable computes the word count of records' values: each
// "word|count" row, by count descending then word.
func wordCountTable(recs []*kgo.Record) []string {
	counts := map[string]int{}
	for _, r := range recs {
		for _, w := range strings.Split(string(r.Value), " ") {
			if w != "" {
				counts[w]++
			}
		}
	}
	words := slices.Collect(maps.Keys(counts))
	sort.Slice(words, func(i, j int) bool {
		if counts[words[i]] != counts[words[j]] {
			return counts[words[i]] > counts[words[j]]
		}
		return words[i] < words[j]
	})
	out := []string{"word|count"}
	for _, w := range words {
		out = append(out, w+"|"+strconv.Itoa(counts[w]))
	}
	return out
}

// consoleBatch is one batch the console sink printed: its id, and its
// table's lines (header first) with the cells trimmed and joined by "|".
type consoleBatch struct {
	id   int64
	rows []string
}

// consoleTables parses what the console sink printed: Spark's banner
// ("Batch: N" between dashed lines), then Dataset.show's table.
func consoleTables(t testing.TB, out string) []consoleBatch {
	t.Helper()
	var bs []consoleBatch
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "Batch: "); ok {
			id, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			if err != nil {
				t.Fatalf("console banner %q: %v", line, err)
			}
			bs = append(bs, consoleBatch{id: id})
			continue
		}
		if len(bs) == 0 || !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		b := &bs[len(bs)-1]
		b.rows = append(b.rows, strings.Join(cells, "|"))
	}
	return bs
}
