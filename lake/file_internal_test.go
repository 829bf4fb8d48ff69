package lake

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestFileStoreListKeysListsWhatListLists: the sink log's cheap listing
// (no stat per file) must see exactly the keys List sees, temporary files
// and directories excluded, for any prefix.
func TestFileStoreListKeysListsWhatListLists(t *testing.T) {
	ctx := t.Context()
	root := filepath.Join(t.TempDir(), "lake")
	st, err := Open(ctx, "file://"+root, S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	fs := st.(*fileStore)
	for _, k := range []string{"stream/_sink_log/q1/00000000000000000001.json", "stream/_sink_log/q1/00000000000000000002.json",
		"stream/_sink_log/_checkpoint/00000000000000000000.json", "stream/_sink_log/q2/00000000000000000000.json",
		"stream/date=2024-11-21/a.parquet", "stream/_sink_log-x", "other"} {
		if err := st.Put(ctx, k, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// A temporary file a crashed Put left, and an empty directory.
	if err := os.WriteFile(filepath.Join(root, "stream/_sink_log/q1/.00000000000000000003.json"+tmpMarker+"1"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "stream/_sink_log/q3"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"", "stream/", "stream/_sink_log/", "stream/_sink_log", "stream/_sink_log/q1/", "stream/_sink_log/_", "missing/"} {
		full, err := fs.List(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := fs.listKeys(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		var a, b []string
		for _, o := range full {
			a = append(a, o.Key)
		}
		for _, o := range keys {
			b = append(b, o.Key)
		}
		if !slices.Equal(a, b) {
			t.Fatalf("prefix %q: List sees %q, listKeys %q", prefix, a, b)
		}
	}
}
