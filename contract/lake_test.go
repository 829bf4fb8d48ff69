package contract

import (
	"cmp"
	"encoding/json"
	"fmt"
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
	for _, field := range []string{`"version":1`, `"seq":7`, `"q1":{"throughBatch":4,"entries":2}`,
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
	for name, tc := range map[string]struct {
		mutate func(*SinkLogCheckpoint)
		want   string
	}{
		"unknown version":        {func(c *SinkLogCheckpoint) { c.Version = 2 }, "version 2"},
		"missing version":        {func(c *SinkLogCheckpoint) { c.Version = 0 }, "version 0"},
		"negative seq":           {func(c *SinkLogCheckpoint) { c.Seq = -1 }, "seq"},
		"reserved query":         {func(c *SinkLogCheckpoint) { c.Queries["_checkpoint"] = SinkLogCoverage{1, 1} }, "not a sink-log query"},
		"more entries than ids":  {func(c *SinkLogCheckpoint) { c.Queries["q1"] = SinkLogCoverage{5, 7} }, "7 entries"},
		"no entries":             {func(c *SinkLogCheckpoint) { c.Queries["q1"] = SinkLogCoverage{5, 0} }, "0 entries"},
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

// TestCheckpointPlusTailFoldsToTheWholeLog is the checkpoint's promise: for
// any log and any cut, the checkpoint (written, stored as JSON and read back)
// followed by the entries it does not cover folds to CommittedFiles of every
// entry. It chains two checkpoints, as successive compactor runs do.
func TestCheckpointPlusTailFoldsToTheWholeLog(t *testing.T) {
	seed := rand.Uint64()
	r := rand.New(rand.NewPCG(seed, 1))
	interesting := 0
	for i := range 3000 {
		log := randomLog(r)
		want := CommittedFiles(log)
		if got := FoldSinkLog(nil, log); !slices.Equal(got, want) {
			t.Fatalf("seed %d, log %d: FoldSinkLog without a checkpoint = %+v, CommittedFiles = %+v", seed, i, got, want)
		}
		var prev *SinkLogCheckpoint
		for seq := range int64(2) {
			covered, rest := cut(r, log, prev)
			cp, err := NewSinkLogCheckpoint(seq, prev, covered)
			if err != nil {
				t.Fatalf("seed %d, log %d: %v", seed, i, err)
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
			if got := FoldSinkLog(&back, rest); !slices.Equal(got, want) {
				t.Fatalf("seed %d, log %d, checkpoint %d: checkpoint + %d later entries fold to\n%+v\nthe whole log (%d entries) to\n%+v\ncheckpoint: %s",
					seed, i, seq, len(rest), got, len(log), want, data)
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
	if interesting < 1000 {
		t.Fatalf("only %d cuts had removals before and entries after them: the generator is too tame", interesting)
	}
}
