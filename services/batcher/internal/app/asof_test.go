package app

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/queries"
)

// seedQueryFile writes the seed's batch query reading `FROM stream
// <clause>` to a file and returns its path.
func seedQueryFile(t *testing.T, clause string) string {
	t.Helper()
	text, err := fs.ReadFile(queries.FS, queries.SeedBatch)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(text), "FROM stream\n", "FROM stream "+clause+"\n", 1)
	if edited == string(text) {
		t.Fatal("the seed's batch query has no `FROM stream` line to edit")
	}
	path := filepath.Join(t.TempDir(), "asof.sql")
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// `batcher --query FILE` whose query reads VERSION AS OF n consolidates
// version n, and says so in its log; a flag naming another snapshot is
// refused, and so is interval mode (the snapshot never changes).
func TestMainQueryVersionAsOf(t *testing.T) {
	url, _, _ := threeBatchLake(t) // S001, S002, S003: one sensor a version
	file := seedQueryFile(t, "VERSION AS OF 1")

	code, out, logs := batcher(t, "--lake", url, "--query", file)
	if code != ExitOK || !strings.Contains(out, "S002") || strings.Contains(out, "S003") || !strings.Contains(out, "2 sensors") {
		t.Fatalf("VERSION AS OF 1: exit %d, summary\n%s\n%s", code, out, logs)
	}
	if !strings.Contains(logs, `"query":"`+file+`"`) || !strings.Contains(logs, `"as_of_version":1`) || !strings.Contains(logs, `"stream_version":1`) {
		t.Fatalf("the run's log does not name the query file and say it read version 1 as of version 1:\n%s", logs)
	}

	code, _, logs = batcher(t, "--lake", url, "--query", file, "--as-of-version", "2")
	if code != ExitFailed || !strings.Contains(logs, "stream VERSION AS OF 1, and --as-of-version 2 asks for another snapshot") {
		t.Fatalf("VERSION AS OF 1 with --as-of-version 2: exit %d\n%s", code, logs)
	}

	code, _, logs = batcher(t, "--lake", url, "--query", file, "--interval", "1m", "--http=")
	if code != ExitFailed || !strings.Contains(logs, "VERSION AS OF 1 reads one fixed snapshot: run it once") {
		t.Fatalf("VERSION AS OF 1 in interval mode: exit %d\n%s", code, logs)
	}
}
