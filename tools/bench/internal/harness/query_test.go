package harness

import (
	"os"
	"strings"
	"testing"
)

func TestWriteQueryEditsTheSeedAndCompilesIt(t *testing.T) {
	dir := t.TempDir()
	q, err := WriteQuery(dir, "seed/streaming.sql", Edit{Old: "topic = 'eventos_sensores'", New: "topic = 'bench.readings'", N: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(q.Path)
	if err != nil || string(b) != q.Text {
		t.Fatalf("written file %q (%v) differs from the edited text", q.Path, err)
	}
	if topic, err := q.SourceTopic(); err != nil || topic != "bench.readings" {
		t.Fatalf("source topic %q (%v), want the edited bench.readings", topic, err)
	}
	if s := q.Sink("stream"); s == nil || s.Sink.Connector != "delta" || s.Sink.Options["path"] != "stream" {
		t.Fatalf("sink stream: %+v, want the seed's Delta table stream", s)
	}
	if q.Sink("nope") != nil {
		t.Fatal("a sink the file does not define was found")
	}
}

func TestEditQueryFailsLoudlyWhenTheFileChanged(t *testing.T) {
	text := "window(t, '10 seconds') … window(t, '10 seconds') … INTERVAL '1' MINUTE"
	got, err := EditQuery("f.sql", text,
		Edit{Old: "'10 seconds'", New: "'2000 milliseconds'", N: 2},
		Edit{Old: "INTERVAL '1' MINUTE", New: "INTERVAL '1000' MILLISECONDS", N: 1})
	if err != nil || got != "window(t, '2000 milliseconds') … window(t, '2000 milliseconds') … INTERVAL '1000' MILLISECONDS" {
		t.Fatalf("got %q, %v", got, err)
	}
	_, err = EditQuery("f.sql", text, Edit{Old: "'10 seconds'", New: "x", N: 3}, Edit{Old: "39.5D", New: "0D", N: 2})
	if err == nil || !strings.Contains(err.Error(), `"'10 seconds'" occurs 2 times, the harness expects 3`) ||
		!strings.Contains(err.Error(), `"39.5D" occurs 0 times`) {
		t.Fatalf("err = %v, want both missed edits named", err)
	}
	if _, err := WriteQuery(t.TempDir(), "seed/streaming.sql", Edit{Old: "CREATE SINK", New: "CREATE SNK", N: 3}); err == nil {
		t.Fatal("an edit that breaks the SQL was written")
	}
}
