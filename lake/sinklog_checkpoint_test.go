package lake_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/laketest"
)

// logWriter appends random entries to a lake's sink log as the streamers and
// the compactor do: several queries, each in batch order with gaps (batches
// without output), window files named after their batch
// (contract.StreamFileKey), compaction-like entries that remove committed
// files, and entries that add a removed path again: only paths that are not
// window-file names, as no writer adds a removed window file again (a
// version-2 checkpoint prunes their tombstones).
type logWriter struct {
	r       *rand.Rand
	s       lake.Store
	next    map[string]int64
	paths   []string // shared paths, not window-file names
	added   []string
	removed []string
	written int
}

func newLogWriter(s lake.Store, seed uint64) *logWriter {
	w := &logWriter{r: rand.New(rand.NewPCG(seed, 7)), s: s, next: map[string]int64{}}
	for i := range 30 {
		w.paths = append(w.paths, fmt.Sprintf("stream/date=2024-11-2%d/legacy-%03d.parquet", i%3, i))
	}
	return w
}

func (w *logWriter) write(t *testing.T, n int, queries ...string) {
	t.Helper()
	for range n {
		q := queries[w.r.IntN(len(queries))]
		e := contract.SinkLogEntry{Version: contract.SinkLogVersion, QueryID: q, BatchID: w.next[q]}
		w.next[q] += 1 + int64(w.r.IntN(3))
		own := func(seq int) string {
			return contract.StreamFileKey(fmt.Sprintf("2024-11-2%d", w.r.IntN(3)), q, e.BatchID, seq)
		}
		switch k := w.r.IntN(10); {
		case k < 6:
			for seq := range 1 + w.r.IntN(2) {
				p := own(seq)
				if w.r.IntN(2) == 0 {
					p = w.paths[w.r.IntN(len(w.paths))]
				}
				e.Files = append(e.Files, contract.SinkFile{Path: p, Rows: w.r.Int64N(50), Size: w.r.Int64N(5000)})
			}
		case k < 9:
			for range 1 + w.r.IntN(3) {
				if len(w.added) > 0 {
					p := w.added[w.r.IntN(len(w.added))]
					e.Removed = append(e.Removed, p)
					w.removed = append(w.removed, p)
				}
			}
			e.Files = []contract.SinkFile{{Path: own(0), Rows: 100, Size: 9000}}
		default:
			var again []string
			for _, p := range w.removed {
				if _, _, _, ok := contract.ParseStreamFileName(p); !ok {
					again = append(again, p)
				}
			}
			if len(again) > 0 {
				e.Files = []contract.SinkFile{{Path: again[w.r.IntN(len(again))], Rows: 1, Size: 1}}
			}
		}
		for _, f := range e.Files {
			w.added = append(w.added, f.Path)
		}
		putEntry(t, w.s, e)
		w.written++
	}
}

// fullFold is what every reader must get: CommittedFiles of every entry.
func fullFold(t *testing.T, s lake.Store) []contract.SinkFile {
	t.Helper()
	entries, err := lake.ReadSinkLog(t.Context(), s)
	if err != nil {
		t.Fatalf("ReadSinkLog: %v", err)
	}
	return contract.CommittedFiles(entries)
}

func load(t *testing.T, s lake.Store) *lake.SinkLog {
	t.Helper()
	l, err := lake.LoadSinkLog(t.Context(), s)
	if err != nil {
		t.Fatalf("LoadSinkLog: %v", err)
	}
	return l
}

func checkpoint(t *testing.T, s lake.Store) string {
	t.Helper()
	l := load(t, s)
	if l.CheckpointErr != nil {
		t.Fatalf("checkpoint unusable: %v", l.CheckpointErr)
	}
	_, key, err := lake.WriteSinkLogCheckpoint(t.Context(), s, l)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// testCheckpointedReadEqualsFullRead grows a log in rounds with a checkpoint
// after each, and checks after each round that LoadSinkLog reads only the
// entries the latest checkpoint does not cover and folds to exactly what the
// whole log folds to.
func testCheckpointedReadEqualsFullRead(t *testing.T, newStore func(t *testing.T) lake.Store, logs, perRound int) {
	seed := rand.Uint64()
	pruned := 0
	defer func() {
		if !t.Failed() && pruned == 0 {
			t.Errorf("seed %d: no checkpoint pruned a tombstone: the writer is too tame", seed)
		}
	}()
	for i := range logs {
		s := newStore(t)
		w := newLogWriter(s, seed+uint64(i))
		sinceCheckpoint, key := 0, ""
		queries := []string{"0b6e-stream", "compaction"}
		for round := range 4 {
			if round == 2 {
				queries = append(queries, "f00d-stream") // a query no checkpoint knows yet
			}
			before := w.written
			w.write(t, perRound, queries...)
			sinceCheckpoint += w.written - before
			l := load(t, s)
			if l.CheckpointErr != nil {
				t.Fatalf("seed %d, log %d, round %d: %v", seed, i, round, l.CheckpointErr)
			}
			if l.CheckpointKey != key || len(l.Entries) != sinceCheckpoint || l.Listed != w.written {
				t.Fatalf("seed %d, log %d, round %d: read checkpoint %q and %d of %d entries, want checkpoint %q and the %d after it",
					seed, i, round, l.CheckpointKey, len(l.Entries), l.Listed, key, sinceCheckpoint)
			}
			if got, want := l.Committed(), fullFold(t, s); !slices.Equal(got, want) {
				t.Fatalf("seed %d, log %d, round %d: checkpoint %q + %d entries fold to\n%+v\nthe whole log to\n%+v", seed, i, round, key, len(l.Entries), got, want)
			}
			for q, next := range w.next {
				if last, ok := l.LastBatch(q); !ok || last >= next || last < next-3 {
					t.Fatalf("seed %d, log %d: LastBatch(%s) = %d %v, the last one written is below %d", seed, i, q, last, ok, next)
				}
			}
			key, sinceCheckpoint = checkpoint(t, s), 0
			if l := load(t, s); len(l.Checkpoint.PrunedThrough) > 0 {
				pruned++
			}
			if want := contract.SinkLogCheckpointKey(int64(round)); key != want {
				t.Fatalf("checkpoint written at %s, want %s", key, want)
			}
		}
	}
}

// testReaderThatListedBeforeACheckpoint: a checkpoint and more entries
// (including a compaction's removals) are written between a reader's listing
// and its reads. The reader does not see them, and is exact for the log it
// listed.
func testReaderThatListedBeforeACheckpoint(t *testing.T, newStore func(t *testing.T) lake.Store) {
	s := newStore(t)
	w := newLogWriter(s, rand.Uint64())
	w.write(t, 20, "0b6e-stream", "compaction")
	checkpoint(t, s)
	w.write(t, 20, "0b6e-stream", "compaction")
	want := fullFold(t, s)
	listed := 0
	hs := &listHookStore{Store: s, after: func() {
		listed++
		checkpoint(t, s)
		w.write(t, 20, "0b6e-stream", "compaction", "f00d-stream")
	}}
	l, err := lake.LoadSinkLog(t.Context(), hs)
	if err != nil {
		t.Fatal(err)
	}
	if listed != 1 {
		t.Fatalf("LoadSinkLog listed %d times, want once", listed)
	}
	if l.CheckpointKey != contract.SinkLogCheckpointKey(0) || len(l.Entries) != 20 {
		t.Fatalf("read checkpoint %q and %d entries, want the first checkpoint and the 20 entries after it", l.CheckpointKey, len(l.Entries))
	}
	if got := l.Committed(); !slices.Equal(got, want) {
		t.Fatalf("a reader that listed before the checkpoint folds to\n%+v\nthe log it listed to\n%+v", got, want)
	}
	// The next reader sees the new checkpoint, and is exact too.
	l = load(t, s)
	if l.CheckpointKey != contract.SinkLogCheckpointKey(1) || len(l.Entries) != 20 {
		t.Fatalf("next reader: checkpoint %q and %d entries, want the second checkpoint and 20 entries", l.CheckpointKey, len(l.Entries))
	}
	if got, want := l.Committed(), fullFold(t, s); !slices.Equal(got, want) {
		t.Fatalf("next reader folds to\n%+v\nthe whole log to\n%+v", got, want)
	}
}

type listHookStore struct {
	lake.Store
	after func()
	get   func(key string) error // optional, before each Get
}

func (h *listHookStore) List(ctx context.Context, prefix string) ([]lake.ObjectInfo, error) {
	objs, err := h.Store.List(ctx, prefix)
	if h.after != nil {
		h.after()
	}
	return objs, err
}

func (h *listHookStore) Get(ctx context.Context, key string) ([]byte, error) {
	if h.get != nil {
		if err := h.get(key); err != nil {
			return nil, err
		}
	}
	return h.Store.Get(ctx, key)
}

// testUnusableCheckpointFallsBackToTheWholeLog damages the latest checkpoint
// in every way a reader can detect, and checks that the reader says so and
// reads the whole log, with the same result.
func testUnusableCheckpointFallsBackToTheWholeLog(t *testing.T, newStore func(t *testing.T) lake.Store) {
	f := func(p string, b int64) contract.SinkFile {
		return contract.SinkFile{Path: "stream/date=2024-11-21/" + p + ".parquet", Rows: b + 1, Size: 100 * (b + 1)}
	}
	valid := func(t *testing.T, s lake.Store) contract.SinkLogCheckpoint {
		l := load(t, s)
		cp, _, err := lake.WriteSinkLogCheckpoint(t.Context(), s, l)
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}
	put := func(t *testing.T, s lake.Store, key string, v any) {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(t.Context(), key, data); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		damage func(t *testing.T, s lake.Store) (getHook func(string) error)
		want   string
	}{
		{"truncated JSON", func(t *testing.T, s lake.Store) func(string) error {
			data, _ := json.Marshal(valid(t, s))
			if err := s.Put(t.Context(), contract.SinkLogCheckpointKey(1), data[:len(data)/2]); err != nil {
				t.Fatal(err)
			}
			return nil
		}, "malformed JSON"},
		{"trailing data", func(t *testing.T, s lake.Store) func(string) error {
			data, _ := json.Marshal(valid(t, s))
			if err := s.Put(t.Context(), contract.SinkLogCheckpointKey(1), append(data, " {}"...)); err != nil {
				t.Fatal(err)
			}
			return nil
		}, "trailing data"},
		{"unknown version", func(t *testing.T, s lake.Store) func(string) error {
			cp := valid(t, s)
			cp.Version, cp.Seq = contract.SinkLogCheckpointVersion+1, 1
			put(t, s, contract.SinkLogCheckpointKey(1), cp)
			return nil
		}, fmt.Sprintf("version %d", contract.SinkLogCheckpointVersion+1)},
		{"seq disagrees with its key", func(t *testing.T, s lake.Store) func(string) error {
			cp := valid(t, s)
			cp.Seq = 5
			put(t, s, contract.SinkLogCheckpointKey(1), cp)
			return nil
		}, "seq 5"},
		{"a file of a batch it does not cover", func(t *testing.T, s lake.Store) func(string) error {
			cp := valid(t, s)
			cp.Seq = 1
			cp.Files[0].BatchID = 99
			put(t, s, contract.SinkLogCheckpointKey(1), cp)
			return nil
		}, "does not cover"},
		{"an entry below its high-water mark it never read", func(t *testing.T, s lake.Store) func(string) error {
			valid(t, s)
			// q1#1 appears after the checkpoint covered q1 through batch 2.
			putEntry(t, s, contract.SinkLogEntry{QueryID: "q1", BatchID: 1, Files: []contract.SinkFile{f("late", 1)}})
			return nil
		}, "the log lists entry q1#1, which it did not fold"},
		{"version 1: an entry below its high-water mark it never read", func(t *testing.T, s lake.Store) func(string) error {
			put(t, s, contract.SinkLogCheckpointKey(0), asVersion1(valid(t, s)))
			putEntry(t, s, contract.SinkLogEntry{QueryID: "q1", BatchID: 1, Files: []contract.SinkFile{f("late", 1)}})
			return nil
		}, "the log lists 3"},
		{"version 1: a covered entry gone", func(t *testing.T, s lake.Store) func(string) error {
			put(t, s, contract.SinkLogCheckpointKey(0), asVersion1(valid(t, s)))
			if err := s.Delete(t.Context(), contract.SinkLogKey("q1", 2)); err != nil {
				t.Fatal(err)
			}
			return nil
		}, "the log lists 1"},
		{"version 2 without batches", func(t *testing.T, s lake.Store) func(string) error {
			cp := valid(t, s)
			for q, cov := range cp.Queries {
				cov.Batches = nil
				cp.Queries[q] = cov
			}
			cp.Seq = 1
			put(t, s, contract.SinkLogCheckpointKey(1), cp)
			return nil
		}, "no batches"},
		{"deleted between the listing and the read", func(t *testing.T, s lake.Store) func(string) error {
			valid(t, s)
			return func(key string) error {
				if strings.HasPrefix(key, contract.SinkLogCheckpointPrefix) {
					return fmt.Errorf("get %s: %w", key, lake.ErrNotExist)
				}
				return nil
			}
		}, "not exist"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			putEntry(t, s, contract.SinkLogEntry{QueryID: "q1", BatchID: 0, Files: []contract.SinkFile{f("a", 0), f("b", 0)}})
			putEntry(t, s, contract.SinkLogEntry{QueryID: "q1", BatchID: 2, Files: []contract.SinkFile{f("c", 2)}, Removed: []string{f("a", 0).Path}})
			putEntry(t, s, contract.SinkLogEntry{QueryID: "q2", BatchID: 0, Files: []contract.SinkFile{f("d", 0)}})
			getHook := tc.damage(t, s)
			putEntry(t, s, contract.SinkLogEntry{QueryID: "q1", BatchID: 3, Files: []contract.SinkFile{f("a", 3), f("e", 3)}, Removed: []string{f("d", 0).Path}})
			want := fullFold(t, s)

			l, err := lake.LoadSinkLog(t.Context(), &listHookStore{Store: s, get: getHook})
			if err != nil {
				t.Fatalf("an unusable checkpoint made LoadSinkLog fail: %v", err)
			}
			if l.CheckpointErr == nil || l.Checkpoint != nil {
				t.Fatalf("the damaged checkpoint was used (checkpoint %q, err %v)", l.CheckpointKey, l.CheckpointErr)
			}
			latest := l.Checkpoints[len(l.Checkpoints)-1]
			if msg := l.CheckpointErr.Error(); !strings.Contains(msg, latest) || !strings.Contains(msg, tc.want) || !strings.Contains(msg, "read the whole log") {
				t.Fatalf("CheckpointErr %q should name %s, say %q and that the whole log was read", msg, latest, tc.want)
			}
			if len(l.Entries) != l.Listed {
				t.Fatalf("read %d of %d entries, want them all", len(l.Entries), l.Listed)
			}
			if got := l.Committed(); !slices.Equal(got, want) {
				t.Fatalf("fallback folds to %+v, the whole log to %+v", got, want)
			}
			if got, err := lake.CommittedStreamFiles(t.Context(), &listHookStore{Store: s, get: getHook}); err != nil || !slices.Equal(got, want) {
				t.Fatalf("CommittedStreamFiles = %+v, %v; want %+v", got, err, want)
			}
			// The maintainer's next checkpoint goes after the damaged one and
			// folds the whole log: readers use it again.
			if next := l.NextCheckpointSeq(); next != int64(len(l.Checkpoints)) {
				t.Fatalf("next checkpoint seq %d, want %d", next, len(l.Checkpoints))
			}
			if _, _, err := lake.WriteSinkLogCheckpoint(t.Context(), s, l); err != nil {
				t.Fatal(err)
			}
			l = load(t, s)
			if l.CheckpointErr != nil || len(l.Entries) != 0 {
				t.Fatalf("after a fresh checkpoint: %d entries read, err %v", len(l.Entries), l.CheckpointErr)
			}
			if got := l.Committed(); !slices.Equal(got, want) {
				t.Fatalf("the fresh checkpoint folds to %+v, the whole log to %+v", got, want)
			}
		})
	}
}

// asVersion1 is cp as the previous build wrote it: every removed path in
// Removed (cp's removed paths are not window-file names here), no batches.
func asVersion1(cp contract.SinkLogCheckpoint) contract.SinkLogCheckpoint {
	if len(cp.PrunedThrough) > 0 {
		panic("asVersion1 of a checkpoint that pruned tombstones")
	}
	cp.Version, cp.PrunedThrough = contract.SinkLogCheckpointVersion1, nil
	qs := map[string]contract.SinkLogCoverage{}
	for q, cov := range cp.Queries {
		cov.Batches = nil
		qs[q] = cov
	}
	cp.Queries = qs
	return cp
}

func fileStores(t *testing.T) lake.Store { return openFile(t, filepath.Join(t.TempDir(), "lake")) }

func TestSinkLogCheckpointOnFiles(t *testing.T) {
	t.Run("checkpointed read equals the full read", func(t *testing.T) { testCheckpointedReadEqualsFullRead(t, fileStores, 10, 30) })
	t.Run("reader that listed before a checkpoint", func(t *testing.T) { testReaderThatListedBeforeACheckpoint(t, fileStores) })
	t.Run("unusable checkpoint", func(t *testing.T) { testUnusableCheckpointFallsBackToTheWholeLog(t, fileStores) })
}

func TestSinkLogCheckpointOnMinIO(t *testing.T) {
	m := laketest.StartMinIO(t)
	var n atomic.Int64
	buckets := func(t *testing.T) lake.Store { return m.Bucket(t, fmt.Sprintf("sinklog-%d", n.Add(1))) }
	t.Run("checkpointed read equals the full read", func(t *testing.T) { testCheckpointedReadEqualsFullRead(t, buckets, 3, 40) })
	t.Run("reader that listed before a checkpoint", func(t *testing.T) { testReaderThatListedBeforeACheckpoint(t, buckets) })
	t.Run("unusable checkpoint", func(t *testing.T) { testUnusableCheckpointFallsBackToTheWholeLog(t, buckets) })
}

func TestSinkLogCheckpointIsNotAnEntryNorAnError(t *testing.T) {
	s := openFile(t, t.TempDir())
	putEntry(t, s, contract.SinkLogEntry{QueryID: "q1", BatchID: 0, Files: []contract.SinkFile{windowFile("2024-11-21", 0, 3)}})
	checkpoint(t, s)
	entries, err := lake.ReadSinkLog(t.Context(), s)
	if err != nil || len(entries) != 1 {
		t.Fatalf("ReadSinkLog next to a checkpoint = %d entries, %v; want the one entry", len(entries), err)
	}
}

// putCompactedLog writes two batches of query q1 (window files a and b) and
// a compaction entry that merges them into one file.
func putCompactedLog(t *testing.T, s lake.Store) (a, b contract.SinkFile) {
	t.Helper()
	a, b = windowFile("2024-11-21", 0, 3), windowFile("2024-11-21", 1, 4)
	merged := contract.SinkFile{Path: contract.StreamFileKey("2024-11-21", "compaction", 0, 0), Rows: 7, Size: 700}
	putEntry(t, s, contract.SinkLogEntry{QueryID: "q1", BatchID: 0, Files: []contract.SinkFile{a}})
	putEntry(t, s, contract.SinkLogEntry{QueryID: "q1", BatchID: 1, Files: []contract.SinkFile{b}})
	putEntry(t, s, contract.SinkLogEntry{QueryID: "compaction", BatchID: 0, Files: []contract.SinkFile{merged}, Removed: []string{a.Path, b.Path}})
	return a, b
}

// An entry the checkpoint does not cover adds again a window file whose
// tombstone the checkpoint pruned: folding the two would commit that file.
// The reader refuses the checkpoint, says why, and folds the whole log.
func TestSinkLogCheckpointRefusedWhenAnEntryAddsAPrunedPathAgain(t *testing.T) {
	s := openFile(t, t.TempDir())
	a, _ := putCompactedLog(t, s)
	checkpoint(t, s)
	l := load(t, s)
	if l.CheckpointErr != nil || l.Checkpoint.Version != 2 || len(l.Checkpoint.Removed) != 0 || l.Checkpoint.PrunedThrough["q1"] != 1 {
		t.Fatalf("checkpoint %+v, err %v: want version 2 with q1's tombstones pruned through batch 1", l.Checkpoint, l.CheckpointErr)
	}
	cp := l.Checkpoint
	// No writer does this: q1 batch 2 adds batch 0's file again.
	again := contract.SinkLogEntry{QueryID: "q1", BatchID: 2, Files: []contract.SinkFile{a, windowFile("2024-11-22", 2, 5)}}
	putEntry(t, s, again)
	want := fullFold(t, s)
	if slices.Contains(want, a) {
		t.Fatalf("the whole log commits %s, which the compaction removed", a.Path)
	}
	again.Version = contract.SinkLogVersion
	if got := contract.FoldSinkLog(cp, []contract.SinkLogEntry{again}); slices.Equal(got, want) {
		t.Fatal("the pruned checkpoint folds exactly anyway: the test shows nothing")
	}
	l = load(t, s)
	if l.Checkpoint != nil || l.CheckpointErr == nil || !strings.Contains(l.CheckpointErr.Error(), "pruned") ||
		!strings.Contains(l.CheckpointErr.Error(), a.Path) || !strings.Contains(l.CheckpointErr.Error(), "read the whole log") {
		t.Fatalf("checkpoint %v used, err %v: want it refused, naming %s", l.CheckpointKey, l.CheckpointErr, a.Path)
	}
	if len(l.Entries) != l.Listed || l.Listed != 4 {
		t.Fatalf("read %d of %d entries, want all 4", len(l.Entries), l.Listed)
	}
	if got := l.Committed(); !slices.Equal(got, want) {
		t.Fatalf("fold %+v, want %+v", got, want)
	}
	// The maintainer's next checkpoint folds the whole log, and is used.
	if _, _, err := lake.WriteSinkLogCheckpoint(t.Context(), s, l); err != nil {
		t.Fatal(err)
	}
	if l = load(t, s); l.CheckpointErr != nil || !slices.Equal(l.Committed(), want) {
		t.Fatalf("after a fresh checkpoint: %+v, %v; want %+v", l.Committed(), l.CheckpointErr, want)
	}
}

// A version-1 checkpoint, as the previous build wrote it, is still read, and
// the next checkpoint folded on top of it is a version-2 one.
func TestSinkLogCheckpointVersion1IsRead(t *testing.T) {
	s := openFile(t, t.TempDir())
	a, b := putCompactedLog(t, s)
	l := load(t, s)
	cp, err := contract.NewSinkLogCheckpoint(0, nil, l.Entries)
	if err != nil {
		t.Fatal(err)
	}
	cp.Version, cp.PrunedThrough, cp.Removed = contract.SinkLogCheckpointVersion1, nil, []string{a.Path, b.Path}
	data, err := json.Marshal(cp)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), contract.SinkLogCheckpointKey(0), data); err != nil {
		t.Fatal(err)
	}
	putEntry(t, s, contract.SinkLogEntry{QueryID: "q1", BatchID: 2, Files: []contract.SinkFile{windowFile("2024-11-22", 2, 5)}})
	want := fullFold(t, s)
	l = load(t, s)
	if l.CheckpointErr != nil || l.Checkpoint.Version != 1 || len(l.Entries) != 1 || !slices.Equal(l.Committed(), want) {
		t.Fatalf("version-1 checkpoint: err %v, %d entries, fold %+v; want it used with one entry, fold %+v", l.CheckpointErr, len(l.Entries), l.Committed(), want)
	}
	checkpoint(t, s)
	l = load(t, s)
	if l.CheckpointErr != nil || l.Checkpoint.Version != 2 || len(l.Checkpoint.Removed) != 0 || !slices.Equal(l.Committed(), want) {
		t.Fatalf("the checkpoint after a version-1 one: %+v, err %v", l.Checkpoint, l.CheckpointErr)
	}
}

// listKeys lists the sink log's keys.
func listKeys(t *testing.T, s lake.Store) []string {
	t.Helper()
	objs, err := s.List(t.Context(), contract.SinkLogPrefix)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	return keys
}

func readMarker(t *testing.T, s lake.Store) contract.SinkLogTrimmed {
	t.Helper()
	data, err := s.Get(t.Context(), contract.SinkLogTrimmedKey)
	if err != nil {
		t.Fatal(err)
	}
	var m contract.SinkLogTrimmed
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TrimSinkLog deletes every entry both checkpoints cover but the newest of
// each query, writes the marker first, and readers stay exact: LoadSinkLog
// folds to what the whole log folded to before, ReadSinkLog refuses the
// partial log.
func TestTrimSinkLogKeepsReadersExact(t *testing.T) {
	seed := rand.Uint64()
	for i := range 5 {
		s := fileStores(t)
		w := newLogWriter(s, seed+uint64(i))
		queries := []string{"0b6e-stream", "compaction"}
		var want []contract.SinkFile
		for round := range 3 {
			if round == 1 {
				queries = append(queries, "f00d-stream")
			}
			w.write(t, 40, queries...)
			if round == 0 {
				want = fullFold(t, s)
			} else {
				// The whole log is gone: fold the checkpoint and the entries since.
				l := load(t, s)
				want = l.Committed()
				if l.CheckpointErr != nil {
					t.Fatal(l.CheckpointErr)
				}
			}
			checkpoint(t, s)
			l := load(t, s)
			n, err := lake.TrimSinkLog(t.Context(), s, l, l.Checkpoint)
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			newest := map[string]int64{}
			for q, next := range w.next {
				if last, ok := l.LastBatch(q); ok && last < next {
					newest[q] = last
				}
			}
			var left []string
			for _, k := range listKeys(t, s) {
				if q, b, ok := contract.ParseSinkLogKey(k); ok {
					if newest[q] != b {
						t.Fatalf("seed %d, round %d: entry %s#%d left, want only the newest of each query (%v)", seed, round, q, b, newest)
					}
					left = append(left, k)
				}
			}
			if len(left) != len(newest) || n != l.Listed-len(newest) {
				t.Fatalf("seed %d, round %d: deleted %d of %d entries, %d left; want all but the %d newest", seed, round, n, l.Listed, len(left), len(newest))
			}
			m := readMarker(t, s)
			for q, b := range m.Queries {
				if b >= newest[q] {
					t.Fatalf("marker %v: %s#%d is the newest entry, kept", m.Queries, q, newest[q])
				}
			}
			l = load(t, s)
			if l.CheckpointErr != nil || l.Trimmed == nil || len(l.Entries) != 0 {
				t.Fatalf("after trimming: err %v, marker %v, %d entries read", l.CheckpointErr, l.Trimmed, len(l.Entries))
			}
			if got := l.Committed(); !slices.Equal(got, want) {
				t.Fatalf("seed %d, round %d: the trimmed log folds to\n%+v\nbefore it folded to\n%+v", seed, round, got, want)
			}
			for q, b := range newest {
				if last, ok := l.LastBatch(q); !ok || last != b {
					t.Fatalf("LastBatch(%s) = %d %v after trimming, want %d", q, last, ok, b)
				}
			}
			if _, err := lake.ReadSinkLog(t.Context(), s); !errors.Is(err, lake.ErrSinkLogTrimmed) || !strings.Contains(err.Error(), contract.SinkLogTrimmedKey) {
				t.Fatalf("ReadSinkLog of a trimmed log: %v, want ErrSinkLogTrimmed naming the marker", err)
			}
		}
	}
}

// A damaged latest checkpoint on a trimmed log: the reader uses the previous
// checkpoint when it covers every deleted entry, and otherwise fails naming
// the marker and the checkpoints; never a fold of what is left.
func TestTrimmedLogWithADamagedCheckpoint(t *testing.T) {
	setup := func(t *testing.T, trimWithLatest bool) (lake.Store, []contract.SinkFile) {
		s := fileStores(t)
		w := newLogWriter(s, rand.Uint64())
		w.write(t, 30, "0b6e-stream", "compaction")
		checkpoint(t, s) // 0
		w.write(t, 30, "0b6e-stream", "compaction")
		checkpoint(t, s) // 1
		w.write(t, 10, "0b6e-stream", "compaction")
		want := fullFold(t, s)
		l := load(t, s)
		old := l.Checkpoint
		if !trimWithLatest {
			var err error
			if old, err = lake.ReadSinkLogCheckpoint(t.Context(), s, contract.SinkLogCheckpointKey(0)); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := lake.TrimSinkLog(t.Context(), s, l, old); err != nil || n == 0 {
			t.Fatalf("trim: %d, %v", n, err)
		}
		data, err := s.Get(t.Context(), contract.SinkLogCheckpointKey(1))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(t.Context(), contract.SinkLogCheckpointKey(1), data[:len(data)/2]); err != nil {
			t.Fatal(err)
		}
		return s, want
	}
	t.Run("the previous checkpoint covers the deleted entries", func(t *testing.T) {
		s, want := setup(t, false)
		l := load(t, s)
		if l.CheckpointKey != contract.SinkLogCheckpointKey(0) || l.CheckpointErr == nil || !strings.Contains(l.CheckpointErr.Error(), "trimmed") {
			t.Fatalf("used %q, err %v; want the previous checkpoint, and a CheckpointErr saying why", l.CheckpointKey, l.CheckpointErr)
		}
		if got := l.Committed(); !slices.Equal(got, want) {
			t.Fatalf("fallback folds to\n%+v\nwant\n%+v", got, want)
		}
		// The maintainer's next checkpoint is folded on the previous one,
		// and readers use it again.
		if _, _, err := lake.WriteSinkLogCheckpoint(t.Context(), s, l); err != nil {
			t.Fatal(err)
		}
		if l = load(t, s); l.CheckpointErr != nil || l.CheckpointKey != contract.SinkLogCheckpointKey(2) || !slices.Equal(l.Committed(), want) {
			t.Fatalf("after a new checkpoint: %q, %v", l.CheckpointKey, l.CheckpointErr)
		}
	})
	t.Run("no checkpoint covers them", func(t *testing.T) {
		s, _ := setup(t, true)
		l, err := lake.LoadSinkLog(t.Context(), s)
		if !errors.Is(err, lake.ErrSinkLogTrimmed) {
			t.Fatalf("LoadSinkLog = %v, %v; want ErrSinkLogTrimmed", l, err)
		}
		for _, want := range []string{contract.SinkLogTrimmedKey, contract.SinkLogCheckpointKey(0), contract.SinkLogCheckpointKey(1), "malformed JSON", "checkpoint covers it through batch"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if _, err := lake.CommittedStreamFiles(t.Context(), s); !errors.Is(err, lake.ErrSinkLogTrimmed) {
			t.Fatalf("CommittedStreamFiles = %v, want ErrSinkLogTrimmed", err)
		}
	})
	t.Run("no checkpoint at all", func(t *testing.T) {
		s, _ := setup(t, false)
		for _, k := range []string{contract.SinkLogCheckpointKey(0), contract.SinkLogCheckpointKey(1)} {
			if err := s.Delete(t.Context(), k); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := lake.LoadSinkLog(t.Context(), s); !errors.Is(err, lake.ErrSinkLogTrimmed) || !strings.Contains(err.Error(), "no checkpoint is listed") {
			t.Fatalf("LoadSinkLog = %v, want ErrSinkLogTrimmed saying no checkpoint is listed", err)
		}
	})
	t.Run("a damaged marker", func(t *testing.T) {
		s, _ := setup(t, false)
		if err := s.Put(t.Context(), contract.SinkLogTrimmedKey, []byte(`{"version":1,"queries":{"0b6e-stream":-1}}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := lake.LoadSinkLog(t.Context(), s); err == nil || !strings.Contains(err.Error(), contract.SinkLogTrimmedKey) {
			t.Fatalf("LoadSinkLog with a damaged marker: %v", err)
		}
	})
}

// TrimSinkLog refuses a log whose latest checkpoint readers cannot use, or
// is of version 1 (readers count its entries: deleting some would make it
// unusable), and deletes nothing.
func TestTrimSinkLogRefusesUnsafeLogs(t *testing.T) {
	s := fileStores(t)
	for b := range int64(20) {
		putEntry(t, s, contract.SinkLogEntry{QueryID: "q1", BatchID: b, Files: []contract.SinkFile{windowFile("2024-11-21", b, 1)}})
	}
	l := load(t, s)
	if _, err := lake.TrimSinkLog(t.Context(), s, l, nil); err == nil {
		t.Fatal("trimmed a log without a checkpoint")
	}
	cp, err := contract.NewSinkLogCheckpoint(0, nil, l.Entries)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(asVersion1(cp))
	if err := s.Put(t.Context(), contract.SinkLogCheckpointKey(0), data); err != nil {
		t.Fatal(err)
	}
	l = load(t, s)
	if _, err := lake.TrimSinkLog(t.Context(), s, l, l.Checkpoint); err == nil || !strings.Contains(err.Error(), "version 1") {
		t.Fatalf("trimmed under a version-1 checkpoint: %v", err)
	}
	// A damaged latest checkpoint: readers do not use it.
	if err := s.Put(t.Context(), contract.SinkLogCheckpointKey(1), []byte("{")); err != nil {
		t.Fatal(err)
	}
	l, err = lake.LoadSinkLog(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lake.TrimSinkLog(t.Context(), s, l, &cp); err == nil || !strings.Contains(err.Error(), "not usable") {
		t.Fatalf("trimmed under an unusable checkpoint: %v", err)
	}
	if keys := listKeys(t, s); len(keys) != 22 {
		t.Fatalf("%d keys left, want the 20 entries and the checkpoints", len(keys))
	}
}
