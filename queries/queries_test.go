package queries

import (
	"io/fs"
	"os"
	"testing"
)

// Every .sql file of the directory is embedded, byte for byte.
func TestEmbedsEveryQueryFile(t *testing.T) {
	for _, dir := range []string{"seed", "examples"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			disk, err := os.ReadFile(dir + "/" + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			got, err := fs.ReadFile(FS, dir+"/"+e.Name())
			if err != nil || string(got) != string(disk) {
				t.Errorf("%s/%s: embedded %d bytes (%v), the file has %d", dir, e.Name(), len(got), err, len(disk))
			}
		}
	}
	if _, err := fs.Stat(FS, SeedBatch); err != nil {
		t.Fatal(err)
	}
}
