package querygen

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// Every workload's input has the keys asked for, its event times never
// fall behind the greatest one seen by more than half the watermark delay
// (so no record is late), and the same seed gives the same bytes.
func TestInputKeysOrderAndSeed(t *testing.T) {
	keyField := map[string]string{"seed": "sensor_id", "customers": "customer_id", "telemetry": "device_id",
		"fraud": "user_id", "sessions": "user_id"}
	timeField := map[string]string{"seed": "ts", "telemetry": "event_time", "fraud": "ts", "sessions": "ts"}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			w := Workloads[name]
			const n, keys = 5000, 37
			var a, b bytes.Buffer
			info, err := w.Write(&a, n, keys, 7)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(&b, n, keys, 7); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatal("the same seed gave different input")
			}
			if info.Records != n || info.Bytes != int64(a.Len()) {
				t.Fatalf("info %+v for %d bytes", info, a.Len())
			}
			lines := strings.Split(strings.TrimSuffix(a.String(), "\n"), "\n")
			if len(lines) != n {
				t.Fatalf("%d lines, want %d", len(lines), n)
			}
			seen := map[string]bool{}
			var maxT int64
			for i, l := range lines {
				if w.Text {
					for _, word := range strings.Fields(l) {
						seen[word] = true
					}
					continue
				}
				var rec map[string]any
				if err := json.Unmarshal([]byte(l), &rec); err != nil {
					t.Fatalf("line %d %s: %v", i, l, err)
				}
				seen[rec[keyField[name]].(string)] = true
				if f := timeField[name]; f != "" {
					ts := int64(rec[f].(float64))
					if ts*1000 < maxT-w.DelayMs*1000/2 {
						t.Fatalf("line %d: event time %d ms is more than half the delay behind %d", i, ts, maxT/1000)
					}
					maxT = max(maxT, ts*1000)
				}
			}
			if len(seen) != keys {
				t.Errorf("%d distinct keys, want %d", len(seen), keys)
			}
			if maxT > 0 && maxT != info.MaxEventTime {
				t.Errorf("MaxEventTime %d, the lines' greatest %d", info.MaxEventTime, maxT)
			}
		})
	}
}

func TestVocabularyWordsAreDistinct(t *testing.T) {
	words := vocabulary(20000)
	seen := map[string]bool{}
	for _, w := range words {
		if w == "" || strings.Contains(w, " ") || seen[w] {
			t.Fatalf("word %q empty, spaced or repeated", w)
		}
		seen[w] = true
	}
}
