package decode

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/contract"
)

// readCorpusEntry parses one committed entry of FuzzDecodeMatchesReference
// ("go test fuzz v1", then []byte("...") and int64(...)).
func readCorpusEntry(t *testing.T, path string) (value []byte, nowMs int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 || lines[0] != "go test fuzz v1" {
		t.Fatalf("%s: not a two-argument go fuzz corpus entry", path)
	}
	lit, ok := strings.CutPrefix(lines[1], "[]byte(")
	if !ok || !strings.HasSuffix(lit, ")") {
		t.Fatalf("%s: first argument %.40q is not a []byte literal", path, lines[1])
	}
	s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	num, ok := strings.CutPrefix(lines[2], "int64(")
	if !ok {
		t.Fatalf("%s: second argument %q is not an int64", path, lines[2])
	}
	if nowMs, err = strconv.ParseInt(strings.TrimSuffix(num, ")"), 10, 64); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(s), nowMs
}

// TestFuzzCorpusCoversEveryKindOfBadInput keeps the committed seed corpus
// of the differential fuzz test honest: it must hold at least one entry of
// every kind of bad input docs/faults.md lists (and of the odd-but-valid record
// with extra fields), so that CI's short fuzz run starts from all of them.
func TestFuzzCorpusCoversEveryKindOfBadInput(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecodeMatchesReference", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	kinds := map[string]func(v []byte, err error) bool{
		"malformed JSON": func(_ []byte, err error) bool { return contract.ReasonOf(err) == contract.ReasonMalformedJSON },
		"empty value":    func(_ []byte, err error) bool { return contract.ReasonOf(err) == contract.ReasonEmpty },
		"missing field":  func(_ []byte, err error) bool { return contract.ReasonOf(err) == contract.ReasonMissingField },
		"wrong type":     func(_ []byte, err error) bool { return contract.ReasonOf(err) == contract.ReasonWrongType },
		"number beyond float64 or int64": func(_ []byte, err error) bool {
			return contract.ReasonOf(err) == contract.ReasonOutOfRange && strings.Contains(err.Error(), "does not fit")
		},
		"NaN or Infinity": func(v []byte, err error) bool {
			return err != nil && (bytes.Contains(v, []byte("NaN")) || bytes.Contains(v, []byte("Infinity")))
		},
		"value out of range": func(_ []byte, err error) bool {
			return contract.ReasonOf(err) == contract.ReasonOutOfRange && strings.Contains(err.Error(), "outside")
		},
		"ts far in the future": func(_ []byte, err error) bool {
			return contract.ReasonOf(err) == contract.ReasonTSOutOfRange && strings.Contains(err.Error(), "after the batch time")
		},
		"ts before 2000": func(_ []byte, err error) bool {
			return contract.ReasonOf(err) == contract.ReasonTSOutOfRange && strings.Contains(err.Error(), "before 2000")
		},
		"non-UTF-8 bytes": func(_ []byte, err error) bool { return contract.ReasonOf(err) == contract.ReasonInvalidUTF8 },
		"1 MiB value": func(v []byte, err error) bool {
			return len(v) >= 1<<20 && contract.ReasonOf(err) == contract.ReasonTooLarge
		},
		"accepted with extra fields": func(v []byte, err error) bool {
			var m map[string]any
			return err == nil && json.Unmarshal(v, &m) == nil && len(m) > 5
		},
	}
	found := map[string]int{}
	for _, f := range files {
		v, nowMs := readCorpusEntry(t, f)
		_, err := contract.DecodeEvent(v, nowMs)
		for kind, is := range kinds {
			if is(v, err) {
				found[kind]++
			}
		}
	}
	for kind := range kinds {
		if found[kind] == 0 {
			t.Errorf("the fuzz corpus has no entry of kind %q: add one to testdata/fuzz/FuzzDecodeMatchesReference", kind)
		}
	}
	t.Logf("%d corpus entries; by kind: %v", len(files), found)
}
