package lake_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
)

func putEntry(t *testing.T, s lake.Store, e contract.SinkLogEntry) {
	t.Helper()
	e.Version = contract.SinkLogVersion
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), contract.SinkLogKey(e.QueryID, e.BatchID), data); err != nil {
		t.Fatal(err)
	}
}

func windowFile(date string, batch int64, rows int64) contract.SinkFile {
	return contract.SinkFile{Path: contract.StreamFileKey(date, "q1", batch, 0), Rows: rows, Size: rows * 100}
}

func TestReadSinkLogSortsByQueryThenBatch(t *testing.T) {
	s := openFile(t, filepath.Join(t.TempDir(), "lake"))
	// Written out of order; batch 10 must come after batch 9.
	for _, e := range []contract.SinkLogEntry{
		{QueryID: "q2", BatchID: 0, Files: []contract.SinkFile{windowFile("2024-11-22", 0, 1)}},
		{QueryID: "q1", BatchID: 10, Files: []contract.SinkFile{windowFile("2024-11-21", 10, 3)}},
		{QueryID: "q1", BatchID: 9, Files: []contract.SinkFile{windowFile("2024-11-21", 9, 2)}},
		{QueryID: "q1", BatchID: 0}, // a batch that emitted nothing
	} {
		putEntry(t, s, e)
	}
	// A data file is not a log entry and must not be read as one.
	if err := s.Put(t.Context(), windowFile("2024-11-21", 9, 2).Path, []byte("PAR1")); err != nil {
		t.Fatal(err)
	}
	entries, err := lake.ReadSinkLog(t.Context(), s)
	if err != nil {
		t.Fatalf("ReadSinkLog: %v", err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, fmt.Sprintf("%s#%d", e.QueryID, e.BatchID))
	}
	if want := []string{"q1#0", "q1#9", "q1#10", "q2#0"}; !slices.Equal(got, want) {
		t.Fatalf("entries in order %q, want %q", got, want)
	}
	if f := entries[2].Files; len(f) != 1 || f[0] != windowFile("2024-11-21", 10, 3) {
		t.Fatalf("entry q1#10 files = %+v, want the one written", f)
	}
}

func TestReadSinkLogOfAnEmptyLake(t *testing.T) {
	s := openFile(t, filepath.Join(t.TempDir(), "missing"))
	entries, err := lake.ReadSinkLog(t.Context(), s)
	if err != nil || len(entries) != 0 {
		t.Fatalf("ReadSinkLog of an empty lake = %v, %v; want no entries and no error", entries, err)
	}
}

func TestReadSinkLogRejectsMalformedEntriesNamingTheKey(t *testing.T) {
	good := `{"version":1,"queryId":"q1","batchId":0,"files":[]}`
	cases := []struct {
		name, key, body string
		want            string // besides the key
	}{
		{"truncated JSON", contract.SinkLogKey("q1", 1), `{"version":1,"queryId":"q1","batchId":1,"files":[`, "malformed JSON"},
		{"not an object", contract.SinkLogKey("q1", 1), `[]`, "malformed JSON"},
		{"trailing data", contract.SinkLogKey("q1", 1), `{"version":1,"queryId":"q1","batchId":1} {}`, "trailing data"},
		{"wrong version", contract.SinkLogKey("q1", 1), `{"version":2,"queryId":"q1","batchId":1}`, "version 2"},
		{"missing version", contract.SinkLogKey("q1", 1), `{"queryId":"q1","batchId":1}`, "version 0"},
		{"batch disagrees with key", contract.SinkLogKey("q1", 1), `{"version":1,"queryId":"q1","batchId":7}`, "batch 7"},
		{"query disagrees with key", contract.SinkLogKey("q1", 1), `{"version":1,"queryId":"q9","batchId":1}`, `query "q9"`},
		{"empty file path", contract.SinkLogKey("q1", 1), `{"version":1,"queryId":"q1","batchId":1,"files":[{"path":""}]}`, "empty path"},
		{"key that does not parse", contract.SinkLogPrefix + "q1/latest.json", good, "not a sink-log key"},
		{"file outside a query dir", contract.SinkLogPrefix + "stray.json", good, "not a sink-log key"},
		// The log's own directories start with "_": only checkpoint keys,
		// exactly as contract.SinkLogCheckpointKey spells them, are known.
		{"checkpoint key not padded", contract.SinkLogCheckpointPrefix + "1.json", good, "not a sink-log key"},
		{"checkpoint key not a number", contract.SinkLogCheckpointPrefix + "latest.json", good, "not a sink-log key"},
		{"unknown log directory", contract.SinkLogPrefix + "_other/00000000000000000001.json", good, "not a sink-log key"},
		{"hidden query dir", contract.SinkLogPrefix + "_q1/00000000000000000001.json", `{"version":1,"queryId":"_q1","batchId":1}`, "not a sink-log key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := openFile(t, t.TempDir())
			putEntry(t, s, contract.SinkLogEntry{QueryID: "q1", BatchID: 0})
			if err := s.Put(t.Context(), tc.key, []byte(tc.body)); err != nil {
				t.Fatal(err)
			}
			entries, err := lake.ReadSinkLog(t.Context(), s)
			if err == nil {
				t.Fatalf("ReadSinkLog accepted a bad entry and returned %d entries", len(entries))
			}
			if !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q should name the key %q and say %q", err, tc.key, tc.want)
			}
			if _, err := lake.CommittedStreamFiles(t.Context(), s); err == nil {
				t.Fatal("CommittedStreamFiles ignored a bad entry")
			}
		})
	}
}

func TestCommittedStreamFilesFoldsTheLog(t *testing.T) {
	s := openFile(t, t.TempDir())
	a, b, c := windowFile("2024-11-21", 0, 5), windowFile("2024-11-21", 1, 6), windowFile("2024-11-22", 2, 7)
	putEntry(t, s, contract.SinkLogEntry{QueryID: "q1", BatchID: 0, Files: []contract.SinkFile{a}})
	putEntry(t, s, contract.SinkLogEntry{QueryID: "q1", BatchID: 1, Files: []contract.SinkFile{b}})
	// A compaction replaced a and b by c.
	putEntry(t, s, contract.SinkLogEntry{QueryID: "q1", BatchID: 2, Files: []contract.SinkFile{c}, Removed: []string{a.Path, b.Path}})
	// A data file that no entry lists (a crashed, not yet re-run batch) is not committed.
	if err := s.Put(t.Context(), windowFile("2024-11-22", 3, 1).Path, []byte("PAR1")); err != nil {
		t.Fatal(err)
	}
	got, err := lake.CommittedStreamFiles(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []contract.SinkFile{c}) {
		t.Fatalf("committed files = %+v, want only %+v", got, c)
	}
}
