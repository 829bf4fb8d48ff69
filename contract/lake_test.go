package contract

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestSinkLogCheckpointKeysSortAndParse(t *testing.T) {
	for _, seq := range []int64{0, 1, 9, 10, 123456789, 1<<63 - 1} {
		k := SinkLogCheckpointKey(seq)
		if !strings.HasPrefix(k, SinkLogPrefix) {
			t.Fatalf("checkpoint key %q is not under the sink log", k)
		}
		if got, ok := ParseSinkLogCheckpointKey(k); !ok || got != seq {
			t.Fatalf("ParseSinkLogCheckpointKey(%q) = %d %v, want %d", k, got, ok, seq)
		}
		// A checkpoint is not an entry, whatever its number.
		if q, b, ok := ParseSinkLogKey(k); ok {
			t.Fatalf("ParseSinkLogKey(%q) took a checkpoint for entry %s#%d", k, q, b)
		}
	}
	if !(SinkLogCheckpointKey(9) < SinkLogCheckpointKey(10)) {
		t.Fatal("checkpoint keys do not sort in seq order")
	}
	for _, bad := range []string{
		SinkLogCheckpointPrefix + "1.json",                     // not padded: two keys for one seq
		SinkLogCheckpointPrefix + "0000000000000000000a.json",  // not a number
		SinkLogCheckpointPrefix + "-0000000000000000001.json",  // negative
		SinkLogCheckpointPrefix + "00000000000000000001.jsonx", // suffix
		SinkLogCheckpointPrefix + "00000000000000000001",       // no suffix
		SinkLogCheckpointPrefix + "x/00000000000000000001.json",
		SinkLogKey("q1", 1),
		SinkLogPrefix + "_other/00000000000000000001.json",
	} {
		if seq, ok := ParseSinkLogCheckpointKey(bad); ok {
			t.Errorf("ParseSinkLogCheckpointKey accepted %q as seq %d", bad, seq)
		}
	}
	// Query directories starting with "_" or "." belong to the log itself:
	// they are never entries.
	for _, bad := range []string{SinkLogPrefix + "_other/00000000000000000001.json", SinkLogPrefix + ".q/00000000000000000001.json"} {
		if _, _, ok := ParseSinkLogKey(bad); ok {
			t.Errorf("ParseSinkLogKey accepted %q", bad)
		}
	}
}

func TestSinkLogCheckpointJSONRoundTrips(t *testing.T) {
	entries := []SinkLogEntry{
		{Version: SinkLogVersion, QueryID: "q1", BatchID: 0, Files: []SinkFile{{Path: "stream/date=2024-11-21/a.parquet", Rows: 3, Size: 300}}},
		{Version: SinkLogVersion, QueryID: "q1", BatchID: 4, Files: []SinkFile{{Path: "stream/date=2024-11-21/b.parquet", Rows: 4, Size: 400}}},
		{Version: SinkLogVersion, QueryID: "compaction", BatchID: 0, Files: []SinkFile{{Path: "stream/date=2024-11-21/c.parquet", Rows: 7, Size: 500}},
			Removed: []string{"stream/date=2024-11-21/a.parquet", "stream/date=2024-11-21/b.parquet"}},
	}
	cp, err := NewSinkLogCheckpoint(7, nil, entries)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(cp)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"version":2`, `"seq":7`, `"q1":{"throughBatch":4,"entries":2,"batches":[[0,0],[4,4]]}`,
		`{"path":"stream/date=2024-11-21/c.parquet","rows":7,"size":500,"queryId":"compaction","batchId":0}`,
		`"removed":["stream/date=2024-11-21/a.parquet","stream/date=2024-11-21/b.parquet"]`} {
		if !strings.Contains(string(data), field) {
			t.Errorf("checkpoint JSON %s lacks %s", data, field)
		}
	}
	var back SinkLogCheckpoint
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, cp) {
		t.Fatalf("round trip: %+v, want %+v", back, cp)
	}
	if err := back.Validate(); err != nil {
		t.Fatalf("a written checkpoint does not validate: %v", err)
	}
	if want := []SinkFile{{Path: "stream/date=2024-11-21/c.parquet", Rows: 7, Size: 500}}; !slices.Equal(FoldSinkLog(&back, nil), want) {
		t.Fatalf("fold of the checkpoint alone = %+v, want %+v", FoldSinkLog(&back, nil), want)
	}
}

func TestSinkLogCheckpointValidateRejectsInconsistencies(t *testing.T) {
	good := func() SinkLogCheckpoint {
		return SinkLogCheckpoint{Version: 1, Seq: 2, Queries: map[string]SinkLogCoverage{"q1": {ThroughBatch: 5, Entries: 3}},
			Files:   []CheckpointFile{{SinkFile: SinkFile{Path: "stream/a.parquet"}, QueryID: "q1", BatchID: 5}},
			Removed: []string{"stream/b.parquet"}}
	}
	if cp := good(); cp.Validate() != nil {
		t.Fatalf("a good checkpoint: %v", cp.Validate())
	}
	good2 := func() SinkLogCheckpoint {
		c := good()
		c.Version, c.PrunedThrough = 2, map[string]int64{"compacti": 0}
		c.Queries["q1"] = SinkLogCoverage{ThroughBatch: 5, Entries: 3, Batches: [][2]int64{{0, 1}, {5, 5}}}
		return c
	}
	if cp := good2(); cp.Validate() != nil {
		t.Fatalf("a good version-2 checkpoint: %v", cp.Validate())
	}
	for name, tc := range map[string]struct {
		batches [][2]int64
		want    string
	}{
		"no batches":         {nil, "no batches"},
		"too many":           {[][2]int64{{0, 2}, {5, 5}}, "4 batches"},
		"too few":            {[][2]int64{{0, 0}, {5, 5}}, "2 batches"},
		"not through":        {[][2]int64{{0, 2}}, "through 2"},
		"overlapping":        {[][2]int64{{0, 1}, {1, 1}, {5, 5}}, "disjoint"},
		"unsorted":           {[][2]int64{{5, 5}, {0, 1}}, "sorted"},
		"upside down":        {[][2]int64{{1, 0}, {4, 5}}, "lo <= hi"},
		"negative":           {[][2]int64{{-1, 0}, {5, 5}}, "0 <= lo"},
		"v1 with bad ranges": {[][2]int64{{0, 0}}, "batches"},
	} {
		t.Run(name, func(t *testing.T) {
			cp := good2()
			if name == "v1 with bad ranges" {
				cp.Version, cp.PrunedThrough = 1, nil
			}
			cp.Queries["q1"] = SinkLogCoverage{ThroughBatch: 5, Entries: 3, Batches: tc.batches}
			if err := cp.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error saying %q", err, tc.want)
			}
		})
	}
	for name, tc := range map[string]struct {
		mutate func(*SinkLogCheckpoint)
		want   string
	}{
		"unknown version":        {func(c *SinkLogCheckpoint) { c.Version = 3 }, "version 3"},
		"v1 with prunedThrough":  {func(c *SinkLogCheckpoint) { c.PrunedThrough = map[string]int64{"q1": 1} }, "no prunedThrough"},
		"negative prunedThrough": {func(c *SinkLogCheckpoint) { c.Version, c.PrunedThrough = 2, map[string]int64{"q1": -1} }, "prunedThrough"},
		"empty pruned short":     {func(c *SinkLogCheckpoint) { c.Version, c.PrunedThrough = 2, map[string]int64{"": 1} }, "prunedThrough"},
		"missing version":        {func(c *SinkLogCheckpoint) { c.Version = 0 }, "version 0"},
		"negative seq":           {func(c *SinkLogCheckpoint) { c.Seq = -1 }, "seq"},
		"reserved query":         {func(c *SinkLogCheckpoint) { c.Queries["_checkpoint"] = SinkLogCoverage{ThroughBatch: 1, Entries: 1} }, "not a sink-log query"},
		"more entries than ids":  {func(c *SinkLogCheckpoint) { c.Queries["q1"] = SinkLogCoverage{ThroughBatch: 5, Entries: 7} }, "7 entries"},
		"no entries":             {func(c *SinkLogCheckpoint) { c.Queries["q1"] = SinkLogCoverage{ThroughBatch: 5, Entries: 0} }, "0 entries"},
		"file of uncovered one":  {func(c *SinkLogCheckpoint) { c.Files[0].BatchID = 6 }, "does not cover"},
		"file of unknown query":  {func(c *SinkLogCheckpoint) { c.Files[0].QueryID = "q2" }, "does not cover"},
		"file listed twice":      {func(c *SinkLogCheckpoint) { c.Files = append(c.Files, c.Files[0]) }, "twice"},
		"file removed and added": {func(c *SinkLogCheckpoint) { c.Removed = append(c.Removed, "stream/a.parquet") }, "both"},
		"empty path":             {func(c *SinkLogCheckpoint) { c.Files[0].Path = "" }, "empty path"},
		"empty removed path":     {func(c *SinkLogCheckpoint) { c.Removed = append(c.Removed, "") }, "empty removed"},
	} {
		t.Run(name, func(t *testing.T) {
			cp := good()
			tc.mutate(&cp)
			err := cp.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestNewSinkLogCheckpointRefusesEntriesItWouldCountTwice(t *testing.T) {
	e := SinkLogEntry{Version: 1, QueryID: "q1", BatchID: 3}
	cp, err := NewSinkLogCheckpoint(0, nil, []SinkLogEntry{e})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSinkLogCheckpoint(1, &cp, []SinkLogEntry{e}); err == nil || !strings.Contains(err.Error(), "already covered") {
		t.Fatalf("an entry the previous checkpoint covers: %v", err)
	}
	if _, err := NewSinkLogCheckpoint(1, nil, []SinkLogEntry{e, e}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("the same entry twice: %v", err)
	}
}

// randomLog is a sink log as the streamer and the compactor write it, with
// the awkward cases made common: few paths, so that several entries (of one
// query or of several) add the same path with different sizes, compaction-like
// entries remove some paths and add one, and removed paths are added again.
func randomLog(r *rand.Rand) []SinkLogEntry {
	queries := []string{"0b6e-stream", "7f3c-stream", "compaction", "f00d-stream"}[:1+r.IntN(4)]
	paths := make([]string, 4+r.IntN(20))
	for i := range paths {
		paths[i] = fmt.Sprintf("stream/date=2024-11-2%d/part-%03d.parquet", i%3, i)
	}
	var removed []string
	var log []SinkLogEntry
	for _, q := range queries {
		batch := int64(r.IntN(3))
		for range r.IntN(25) {
			e := SinkLogEntry{Version: SinkLogVersion, QueryID: q, BatchID: batch}
			batch += 1 + int64(r.IntN(3)) // batches with no output have no entry
			switch k := r.IntN(10); {
			case k < 5: // a streamer batch
				for range r.IntN(3) {
					e.Files = append(e.Files, SinkFile{Path: paths[r.IntN(len(paths))], Rows: r.Int64N(100), Size: r.Int64N(1e4)})
				}
			case k < 8: // a compaction: some paths out, one in
				for range 1 + r.IntN(4) {
					p := paths[r.IntN(len(paths))]
					e.Removed = append(e.Removed, p)
					removed = append(removed, p)
				}
				e.Files = []SinkFile{{Path: paths[r.IntN(len(paths))], Rows: r.Int64N(1000), Size: r.Int64N(1e5)}}
			default: // a removed path added again
				if len(removed) > 0 {
					e.Files = []SinkFile{{Path: removed[r.IntN(len(removed))], Rows: 1, Size: 1}}
				}
			}
			log = append(log, e)
		}
	}
	slices.SortFunc(log, func(a, b SinkLogEntry) int {
		return cmp.Or(strings.Compare(a.QueryID, b.QueryID), cmp.Compare(a.BatchID, b.BatchID))
	})
	return log
}

// cut splits a sorted log at a random batch of each query (possibly before
// its first entry or after its last): what a checkpoint covers, and the rest.
func cut(r *rand.Rand, log []SinkLogEntry, prev *SinkLogCheckpoint) (covered, rest []SinkLogEntry) {
	through := map[string]int64{}
	for _, e := range log {
		if _, ok := through[e.QueryID]; !ok {
			through[e.QueryID] = -1 + r.Int64N(80)
		}
	}
	for _, e := range log {
		if prev.Covers(e.QueryID, e.BatchID) {
			continue
		}
		if e.BatchID <= through[e.QueryID] {
			covered = append(covered, e)
		} else {
			rest = append(rest, e)
		}
	}
	return covered, rest
}

// randomWindowLog is a sink log of window files named as the streamer and
// the compactor name them (StreamFileKey: a version-2 checkpoint prunes their
// tombstones), mixed with other names, and with the awkward cases common:
// compactions remove files of every query and of other compactions (staged
// and published), paths added by several entries, and now and then an entry
// that adds a removed path again (which no writer does: the reader must then
// refuse the checkpoint).
func randomWindowLog(r *rand.Rand) []SinkLogEntry {
	queries := []string{"0b6e-stream", "7f3c-stream", "compaction", "f00d-stream"}[:1+r.IntN(4)]
	if !slices.Contains(queries, "compaction") {
		queries = append(queries, "compaction")
	}
	other := make([]string, 2+r.IntN(6))
	for i := range other {
		other[i] = fmt.Sprintf("stream/date=2024-11-2%d/legacy-%03d.parquet", i%3, i)
	}
	date := func() string { return fmt.Sprintf("2024-11-2%d", r.IntN(3)) }
	var added, removed []string
	var log []SinkLogEntry
	for _, q := range queries {
		batch := int64(r.IntN(3))
		for range r.IntN(25) {
			e := SinkLogEntry{Version: SinkLogVersion, QueryID: q, BatchID: batch}
			switch k := r.IntN(80); {
			case k == 0 && len(removed) > 0: // a removed path added again
				e.Files = []SinkFile{{Path: removed[r.IntN(len(removed))], Rows: 1, Size: 1}}
			case q == "compaction": // some paths out, its own files in (staged or published)
				for range 1 + r.IntN(4) {
					if len(added) > 0 {
						p := added[r.IntN(len(added))]
						e.Removed = append(e.Removed, p)
						removed = append(removed, p)
					}
				}
				prefix := ""
				if r.IntN(2) == 0 {
					prefix = "_compaction/"
				}
				for seq := range 1 + r.IntN(2) {
					p := prefix + StreamFileKey(date(), q, batch, seq)
					e.Files = append(e.Files, SinkFile{Path: p, Rows: r.Int64N(1000), Size: r.Int64N(1e5)})
					added = append(added, p)
				}
			default: // a streamer batch: its own files, sometimes an other path
				for seq := range r.IntN(3) {
					p := StreamFileKey(date(), q, batch, seq)
					e.Files = append(e.Files, SinkFile{Path: p, Rows: r.Int64N(100), Size: r.Int64N(1e4)})
					added = append(added, p)
				}
				if r.IntN(4) == 0 {
					p := other[r.IntN(len(other))]
					e.Files = append(e.Files, SinkFile{Path: p, Rows: r.Int64N(100), Size: r.Int64N(1e4)})
					added = append(added, p)
				}
			}
			batch += 1 + int64(r.IntN(3)) // batches with no output have no entry
			log = append(log, e)
		}
	}
	slices.SortFunc(log, func(a, b SinkLogEntry) int {
		return cmp.Or(strings.Compare(a.QueryID, b.QueryID), cmp.Compare(a.BatchID, b.BatchID))
	})
	return log
}

// asVersion1 rewrites cp as a version-1 checkpoint of the same fold, as the
// previous build wrote it: every removed path of the entries it covers in
// Removed.
func asVersion1(cp SinkLogCheckpoint, all []SinkLogEntry) SinkLogCheckpoint {
	removed := map[string]bool{}
	for _, e := range all {
		if cp.Covers(e.QueryID, e.BatchID) {
			for _, p := range e.Removed {
				removed[p] = true
			}
		}
	}
	cp.Version, cp.PrunedThrough = SinkLogCheckpointVersion1, nil
	cp.Removed = slices.Sorted(maps.Keys(removed))
	queries := map[string]SinkLogCoverage{}
	for q, cov := range cp.Queries {
		cov.Batches = nil
		queries[q] = cov
	}
	cp.Queries = queries
	return cp
}

// listedBatches is what a reader lists of log: per query, its batch ids.
func listedBatches(log []SinkLogEntry) map[string][]int64 {
	out := map[string][]int64{}
	for _, e := range log {
		out[e.QueryID] = append(out[e.QueryID], e.BatchID)
	}
	return out
}

// TestCheckpointPlusTailFoldsToTheWholeLog is the checkpoint's promise: for
// any log and any cut, the checkpoint (written, stored as JSON and read back)
// followed by the entries it does not cover folds to CommittedFiles of every
// entry, unless CheckUncovered refuses the checkpoint (a reader then reads
// the whole log). It chains two checkpoints, as successive compactor runs do,
// the first one sometimes in version 1 as the previous build wrote it; when
// the second cannot be folded on the first, it is folded from every entry it
// covers, as the compactor does after a full read.
func TestCheckpointPlusTailFoldsToTheWholeLog(t *testing.T) {
	seed := rand.Uint64()
	r := rand.New(rand.NewPCG(seed, 1))
	interesting, pruned, refused := 0, 0, 0
	for i := range 4000 {
		gen := randomLog
		if i%2 == 1 {
			gen = randomWindowLog
		}
		log := gen(r)
		want := CommittedFiles(log)
		if got := FoldSinkLog(nil, log); !slices.Equal(got, want) {
			t.Fatalf("seed %d, log %d: FoldSinkLog without a checkpoint = %+v, CommittedFiles = %+v", seed, i, got, want)
		}
		var prev *SinkLogCheckpoint
		for seq := range int64(2) {
			covered, rest := cut(r, log, prev)
			cp, err := NewSinkLogCheckpoint(seq, prev, covered)
			if err != nil && prev != nil && prev.CheckUncovered(covered) != nil {
				// What the compactor does when the reader refused prev:
				// fold every entry the new checkpoint covers.
				all := slices.DeleteFunc(slices.Clone(log), func(e SinkLogEntry) bool {
					return slices.ContainsFunc(rest, func(x SinkLogEntry) bool { return x.QueryID == e.QueryID && x.BatchID == e.BatchID })
				})
				cp, err = NewSinkLogCheckpoint(seq, nil, all)
				covered = all
			}
			if err != nil {
				t.Fatalf("seed %d, log %d: %v", seed, i, err)
			}
			if seq == 0 && r.IntN(3) == 0 {
				cp = asVersion1(cp, log)
			}
			data, err := json.Marshal(cp)
			if err != nil {
				t.Fatal(err)
			}
			var back SinkLogCheckpoint
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			if err := back.Validate(); err != nil {
				t.Fatalf("seed %d, log %d: checkpoint %s: %v", seed, i, data, err)
			}
			// The reader's check against the whole log listed (which also
			// gives a version-1 checkpoint its batches).
			if err := back.CheckListed(listedBatches(log)); err != nil {
				t.Fatalf("seed %d, log %d: checkpoint %s against the whole log: %v", seed, i, data, err)
			}
			if back.Version == SinkLogCheckpointVersion {
				for _, p := range back.Removed {
					if _, _, _, ok := ParseStreamFileName(p); ok {
						t.Fatalf("seed %d, log %d: checkpoint %d keeps the window file %s in removed", seed, i, seq, p)
					}
				}
			}
			if err := back.CheckUncovered(rest); err != nil {
				refused++
			} else if got := FoldSinkLog(&back, rest); !slices.Equal(got, want) {
				t.Fatalf("seed %d, log %d, checkpoint %d: checkpoint + %d later entries fold to\n%+v\nthe whole log (%d entries) to\n%+v\ncheckpoint: %s",
					seed, i, seq, len(rest), got, len(log), want, data)
			} else if len(back.PrunedThrough) > 0 && len(rest) > 0 {
				pruned++
			}
			for _, e := range covered {
				if !back.Covers(e.QueryID, e.BatchID) {
					t.Fatalf("seed %d, log %d: checkpoint %d does not cover %s#%d it folded", seed, i, seq, e.QueryID, e.BatchID)
				}
			}
			for _, e := range rest {
				if back.Covers(e.QueryID, e.BatchID) {
					t.Fatalf("seed %d, log %d: checkpoint %d covers %s#%d it did not fold", seed, i, seq, e.QueryID, e.BatchID)
				}
			}
			if len(back.Removed) > 0 && len(covered) > 0 && len(rest) > 0 {
				interesting++
			}
			prev = &back
		}
	}
	if interesting < 1000 || pruned < 250 || refused < 50 {
		t.Fatalf("%d cuts had removals before and entries after them, %d a pruning checkpoint used with entries after it, %d a refused one: the generator is too tame",
			interesting, pruned, refused)
	}
}

func TestParseStreamFileNameInvertsStreamFileKey(t *testing.T) {
	for _, tc := range []struct {
		query string
		batch int64
		seq   int
		short string
	}{
		{"3f2a9c1e-0b6e-4d1a-9f00-123456789abc", 0, 0, "3f2a9c1e"},
		{"compaction", 4, 1, "compacti"},
		{"q1", 9999999999, 999, "q1"},
		{"q1", 10000000000, 1000, "q1"}, // wider than the padding
		{"a-b", 1<<63 - 1, 12, "ab"},
	} {
		key := StreamFileKey("2024-11-21", tc.query, tc.batch, tc.seq)
		for _, path := range []string{key, "_compaction/" + key, "part" + key[strings.LastIndexByte(key, '/'):]} {
			b, seq, short, ok := ParseStreamFileName(path)
			if !ok || b != tc.batch || seq != tc.seq || short != tc.short {
				t.Errorf("ParseStreamFileName(%q) = %d %d %q %v, want %d %d %q", path, b, seq, short, ok, tc.batch, tc.seq, tc.short)
			}
		}
	}
	for _, bad := range []string{
		"stream/date=2024-11-21/part-000.parquet",
		"stream/date=2024-11-21/part-0000000001-000-.parquet",          // no short
		"stream/date=2024-11-21/part-0000000001-000-abcdefghi.parquet", // short too long
		"stream/date=2024-11-21/part-000000001-000-q1.parquet",         // batch not padded
		"stream/date=2024-11-21/part-00000000001-000-q1.parquet",       // padded too much
		"stream/date=2024-11-21/part-0000000001-00-q1.parquet",         // seq not padded
		"stream/date=2024-11-21/part-0000000001-0000-q1.parquet",       // seq padded too much
		"stream/date=2024-11-21/part--000000001-000-q1.parquet",        // negative
		"stream/date=2024-11-21/part-000000000a-000-q1.parquet",
		"stream/date=2024-11-21/part-+000000001-000-q1.parquet",
		"stream/date=2024-11-21/part-0000000001-000-q-1.parquet", // a dash in the short id
		"stream/date=2024-11-21/part-0000000001-000-q1.parquet.tmp",
		"stream/date=2024-11-21/part-0000000001-000-q1.json",
		"stream/date=2024-11-21/xpart-0000000001-000-q1.parquet",
		"stream/date=2024-11-21/part-99999999999999999999-000-q1.parquet", // overflows int64
		"stream/date=2024-11-21/part-0000000001-000-q1.parquet/",
		"",
	} {
		if b, seq, short, ok := ParseStreamFileName(bad); ok {
			t.Errorf("ParseStreamFileName(%q) accepted it as %d %d %q", bad, b, seq, short)
		}
	}
}

// TestCheckpointPrunesWindowFileTombstones: a version-2 checkpoint keeps out
// of Removed the removed paths that are window-file names, remembers the
// highest batch per short id, and takes a version-1 checkpoint as prev
// through the same rule.
func TestCheckpointPrunesWindowFileTombstones(t *testing.T) {
	small := func(q string, b int64) string { return StreamFileKey("2024-11-21", q, b, 0) }
	entries := []SinkLogEntry{
		{Version: 1, QueryID: "0b6e-stream", BatchID: 3, Files: []SinkFile{{Path: small("0b6e-stream", 3), Rows: 1, Size: 1}}},
		{Version: 1, QueryID: "0b6e-stream", BatchID: 7, Files: []SinkFile{{Path: small("0b6e-stream", 7), Rows: 1, Size: 1}}},
		{Version: 1, QueryID: "compaction", BatchID: 0, Files: []SinkFile{{Path: "_compaction/" + small("compaction", 0), Rows: 2, Size: 2}},
			Removed: []string{small("0b6e-stream", 3), small("0b6e-stream", 7), "stream/date=2024-11-21/legacy.parquet"}},
		{Version: 1, QueryID: "compaction", BatchID: 1, Files: []SinkFile{{Path: small("compaction", 0), Rows: 2, Size: 2}},
			Removed: []string{"_compaction/" + small("compaction", 0)}},
	}
	cp, err := NewSinkLogCheckpoint(0, nil, entries)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Version != 2 || !slices.Equal(cp.Removed, []string{"stream/date=2024-11-21/legacy.parquet"}) ||
		!reflect.DeepEqual(cp.PrunedThrough, map[string]int64{"0b6estre": 7, "compacti": 0}) {
		t.Fatalf("checkpoint: version %d, removed %v, prunedThrough %v", cp.Version, cp.Removed, cp.PrunedThrough)
	}
	// A later batch of the stream, and the compactor's next files: usable.
	later := []SinkLogEntry{
		{Version: 1, QueryID: "0b6e-stream", BatchID: 8, Files: []SinkFile{{Path: small("0b6e-stream", 8), Rows: 1, Size: 1}}},
		{Version: 1, QueryID: "compaction", BatchID: 2, Files: []SinkFile{{Path: "_compaction/" + small("compaction", 2), Rows: 1, Size: 1}}},
	}
	if err := cp.CheckUncovered(later); err != nil {
		t.Fatalf("later entries: %v", err)
	}
	if got, want := FoldSinkLog(&cp, later), CommittedFiles(append(slices.Clone(entries), later...)); !slices.Equal(got, want) {
		t.Fatalf("fold %+v, want %+v", got, want)
	}
	// An entry that adds a pruned path again: not usable, and no
	// checkpoint may be folded on top of it.
	again := []SinkLogEntry{{Version: 1, QueryID: "0b6e-stream", BatchID: 9, Files: []SinkFile{{Path: StreamFileKey("2024-11-22", "0b6e-stream", 7, 4), Rows: 1, Size: 1}}}}
	if err := cp.CheckUncovered(again); err == nil || !strings.Contains(err.Error(), "0b6estre through batch 7") {
		t.Fatalf("an uncovered entry adding a pruned path: %v", err)
	}
	if _, err := NewSinkLogCheckpoint(1, &cp, again); err == nil {
		t.Fatal("NewSinkLogCheckpoint folded an entry that adds a pruned path")
	}
	// A version-1 prev: its Removed goes through the same rule.
	v1, err := NewSinkLogCheckpoint(0, nil, entries[:3])
	if err != nil {
		t.Fatal(err)
	}
	v1.Version, v1.PrunedThrough, v1.Removed = 1, nil, slices.Sorted(slices.Values(entries[2].Removed))
	if err := v1.Validate(); err != nil {
		t.Fatal(err)
	}
	cp2, err := NewSinkLogCheckpoint(1, &v1, entries[3:])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cp2.Removed, cp.Removed) || !reflect.DeepEqual(cp2.PrunedThrough, cp.PrunedThrough) || !reflect.DeepEqual(cp2.Files, cp.Files) {
		t.Fatalf("from a version-1 prev: %+v\nwant %+v", cp2, cp)
	}
}

// CheckListed, the reader's check of a checkpoint against the entries it
// lists: version 2 allows covered entries to be gone and refuses an entry it
// never folded; version 1 needs the exact count, and then learns its batches.
func TestCheckpointCheckListed(t *testing.T) {
	var log []SinkLogEntry
	for _, b := range []int64{0, 1, 2, 5, 6, 9} {
		log = append(log, SinkLogEntry{Version: 1, QueryID: "q1", BatchID: b, Files: []SinkFile{{Path: StreamFileKey("2024-11-21", "q1", b, 0), Rows: 1, Size: 1}}})
	}
	cp, err := NewSinkLogCheckpoint(0, nil, log[:5])
	if err != nil {
		t.Fatal(err)
	}
	if got := cp.Queries["q1"]; !reflect.DeepEqual(got.Batches, [][2]int64{{0, 2}, {5, 6}}) || got.Entries != 5 || got.ThroughBatch != 6 {
		t.Fatalf("coverage %+v", got)
	}
	for _, tc := range []struct {
		listed []int64
		want   string // "" for usable
	}{
		{[]int64{0, 1, 2, 5, 6, 9}, ""},
		{[]int64{6, 9}, ""},                    // covered entries deleted
		{[]int64{9}, ""},                       // all of them
		{[]int64{0, 1, 2, 3, 5, 6, 9}, "q1#3"}, // one it never folded, in a gap
		{[]int64{4, 9}, "q1#4"},
	} {
		err := cp.CheckListed(map[string][]int64{"q1": tc.listed, "q2": {0, 1}})
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("listed %v: %v, want %q", tc.listed, err, tc.want)
		}
	}
	if cp.Covers("q1", 3) || !cp.Covers("q1", 5) || cp.Covers("q1", 9) || cp.Covers("q2", 0) {
		t.Error("Covers does not follow the batches")
	}
	v1 := asVersion1(cp, log)
	if err := v1.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSinkLogCheckpoint(1, &v1, log[5:]); err == nil {
		t.Fatal("a version-1 prev without its batches was folded")
	}
	for _, listed := range [][]int64{{1, 2, 5, 6, 9}, {0, 1, 2, 3, 5, 6, 9}} {
		c := asVersion1(cp, log)
		if err := c.CheckListed(map[string][]int64{"q1": listed}); err == nil || !strings.Contains(err.Error(), "the log lists") {
			t.Errorf("version 1, listed %v: %v, want the count check to fail", listed, err)
		}
	}
	if err := v1.CheckListed(map[string][]int64{"q1": {9, 6, 5, 2, 1, 0}}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v1.Queries["q1"].Batches, cp.Queries["q1"].Batches) {
		t.Fatalf("version 1 learnt batches %v, want %v", v1.Queries["q1"].Batches, cp.Queries["q1"].Batches)
	}
	next, err := NewSinkLogCheckpoint(1, &v1, log[5:])
	if err != nil {
		t.Fatal(err)
	}
	if got := next.Queries["q1"].Batches; !reflect.DeepEqual(got, [][2]int64{{0, 2}, {5, 6}, {9, 9}}) {
		t.Fatalf("the checkpoint after a version-1 one: batches %v", got)
	}
	if _, err := NewSinkLogCheckpoint(2, &cp, []SinkLogEntry{{Version: 1, QueryID: "q1", BatchID: 4}}); err == nil || !strings.Contains(err.Error(), "below batch 6") {
		t.Fatalf("an entry in a gap of prev: %v", err)
	}
}

func TestSinkLogTrimmedMarker(t *testing.T) {
	if _, _, ok := ParseSinkLogKey(SinkLogTrimmedKey); ok {
		t.Fatal("the retention marker parses as an entry")
	}
	if _, ok := ParseSinkLogCheckpointKey(SinkLogTrimmedKey); ok {
		t.Fatal("the retention marker parses as a checkpoint")
	}
	if !strings.HasPrefix(SinkLogTrimmedKey, SinkLogPrefix+"_") {
		t.Fatalf("%s: the marker's name must start with _ under the log", SinkLogTrimmedKey)
	}
	m := SinkLogTrimmed{Version: 1, Queries: map[string]int64{"q1": 4, "compaction": 0}}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []SinkLogTrimmed{{Version: 2}, {Version: 1, Queries: map[string]int64{"q1": -1}}, {Version: 1, Queries: map[string]int64{"_checkpoint": 1}}} {
		if bad.Validate() == nil {
			t.Errorf("marker %+v validates", bad)
		}
	}
	cp := &SinkLogCheckpoint{Queries: map[string]SinkLogCoverage{"q1": {ThroughBatch: 4}, "compaction": {ThroughBatch: 7}}}
	if err := m.CoveredBy(cp); err != nil {
		t.Fatal(err)
	}
	cp.Queries["q1"] = SinkLogCoverage{ThroughBatch: 3}
	if err := m.CoveredBy(cp); err == nil || !strings.Contains(err.Error(), "q1 up to batch 4") {
		t.Fatalf("a checkpoint short of the marker: %v", err)
	}
	delete(cp.Queries, "q1")
	if err := m.CoveredBy(cp); err == nil || !strings.Contains(err.Error(), "does not cover that query") {
		t.Fatalf("a checkpoint without a trimmed query: %v", err)
	}
	if err := m.CoveredBy(nil); err == nil {
		t.Fatal("no checkpoint covers a trimmed log")
	}
}
