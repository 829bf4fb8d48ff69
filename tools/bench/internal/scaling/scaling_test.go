package scaling

import (
	"os"
	"path/filepath"
	"testing"
)

// committed sums each partition's newest committed batch's end offset
// (not an older batch's, not an uncommitted one's) and says whether every
// partition has committed one.
func TestCommittedReadsEachPartitionsNewestCommit(t *testing.T) {
	root := t.TempDir()
	write := func(p, dir, name, body string) {
		d := filepath.Join(root, p, dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const b0, b1, b2 = "00000000000000000000.json", "00000000000000000001.json", "00000000000000000002.json"
	write("0", "offsets", b0, `{"end":{"0":10}}`)
	write("0", "offsets", b1, `{"end":{"0":25}}`)
	write("0", "offsets", b2, `{"end":{"0":40}}`) // planned, not committed
	write("0", "commits", b0, `{}`)
	write("0", "commits", b1, `{}`)
	write("0", "commits", ".tmp-partial", `{`)
	end := map[int32]int64{0: 40, 1: 30}
	done, all, err := committed(root, end)
	if err != nil || done != 25 || all {
		t.Fatalf("partition 1 without a commit: %d, %v, %v; want 25, not all", done, all, err)
	}
	write("1", "offsets", b0, `{"end":{"1":30}}`)
	write("1", "commits", b0, `{}`)
	if done, all, err := committed(root, end); err != nil || done != 55 || !all {
		t.Fatalf("both committed: %d, %v, %v; want 55, all", done, all, err)
	}
}
