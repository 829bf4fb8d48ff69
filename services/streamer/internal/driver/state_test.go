package driver

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

// A state file reads back its parts; a flipped bit, a cut, another kind
// or another file's bytes are refused rather than restored.
func TestStateFileIsFramedAndChecked(t *testing.T) {
	parts := []statePart{{"stream", []byte("snapshot of stream")}, {"Alerts", []byte{}}, {"console", []byte{0, 1, 2}}}
	b := encodeState(kindSnapshot, parts)
	got, err := decodeState(b, kindSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || string(got["stream"]) != "snapshot of stream" || got["alerts"] == nil || len(got["console"]) != 3 {
		t.Fatalf("decoded %q", got)
	}
	flipped := append([]byte(nil), b...)
	flipped[10] ^= 1
	for name, bad := range map[string][]byte{
		"flipped bit": flipped, "cut": b[:len(b)-3], "empty": nil, "built-in state file": []byte("SLST\x00\x01rest of it"),
	} {
		if _, err := decodeState(bad, kindSnapshot); !errors.Is(err, errStateFile) {
			t.Errorf("%s: err = %v, want errStateFile", name, err)
		}
	}
	if _, err := decodeState(b, kindChangelog); err == nil || !strings.Contains(err.Error(), "kind") {
		t.Errorf("a snapshot read as a changelog: err = %v", err)
	}
}

// A checkpoint written by a streamer of the first state file format (a
// part's length as a uvarint) restores: an upgrade keeps the state.
func TestStateFileOfVersion1IsRead(t *testing.T) {
	b := []byte("SLQS\x01\x02\x02")
	for _, p := range []statePart{{"Stream+console", []byte("changes")}, {"alerts", nil}} {
		b = binary.AppendUvarint(b, uint64(len(p.name)))
		b = append(b, p.name...)
		b = binary.AppendUvarint(b, uint64(len(p.payload)))
		b = append(b, p.payload...)
	}
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	got, err := decodeState(b, kindChangelog)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got["stream+console"]) != "changes" || got["alerts"] == nil || len(got["alerts"]) != 0 {
		t.Fatalf("decoded %q", got)
	}
	b[4] = 3
	b = binary.LittleEndian.AppendUint32(b[:len(b)-4], crc32.Checksum(b[:len(b)-4], castagnoli))
	if _, err := decodeState(b, kindChangelog); !errors.Is(err, errStateFile) || !strings.Contains(err.Error(), "version 3") {
		t.Errorf("a state file of version 3: err = %v", err)
	}
}

// One streamer reads one source: a script whose queries read two is
// refused at start, naming them.
func TestAScriptOverTwoSourcesIsRefused(t *testing.T) {
	_, err := Compile("two.sql", `
CREATE SOURCE a (v STRING) WITH (connector = 'kafka', topic = 'ta', format = 'text');
CREATE SOURCE b (v STRING) WITH (connector = 'kafka', topic = 'tb', format = 'text');
CREATE SINK x WITH (connector = 'console') AS SELECT v FROM a;
CREATE SINK y WITH (connector = 'console') AS SELECT v FROM b;`)
	if err == nil || !strings.Contains(err.Error(), "a streamer reads one source; the script's queries read a and b: run one streamer per source") {
		t.Fatalf("err = %v", err)
	}
}
