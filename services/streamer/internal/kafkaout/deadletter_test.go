package kafkaout

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
)

func headers(r *kgo.Record) map[string]string {
	h := map[string]string{}
	for _, kv := range r.Headers {
		h[kv.Key] = string(kv.Value)
	}
	return h
}

// A 1 MiB record must not become a 1 MiB dead letter: near the broker's
// message size limit it failed the batch's transaction on every re-run and
// stalled the query (found by the e2e bad-input fault).
func TestDeadLetterOfAnOversizedValueIsCut(t *testing.T) {
	value := bytes.Repeat([]byte("x"), 1<<20)
	src := &kgo.Record{Topic: contract.EventsTopic, Partition: 2, Offset: 41, Key: []byte("S001"), Value: value}
	dl := DeadLetter(contract.DLQTopic, src, contract.ReasonTooLarge, "record value is 1048576 bytes")
	if len(dl.Value) != contract.MaxValueBytes || !bytes.Equal(dl.Value, value[:contract.MaxValueBytes]) {
		t.Fatalf("dead letter value is %d bytes, want the first %d of the record", len(dl.Value), contract.MaxValueBytes)
	}
	if len(src.Value) != 1<<20 {
		t.Fatal("DeadLetter changed the source record")
	}
	h := headers(dl)
	if h[contract.HeaderSourcePartition] != "2" || h[contract.HeaderSourceOffset] != "41" ||
		h[contract.HeaderReason] != string(contract.ReasonTooLarge) || !strings.Contains(h[contract.HeaderDetail], "first 65536 bytes") {
		t.Fatalf("headers %v: want the source position, the reason and a detail saying the value is cut", h)
	}
	if string(dl.Key) != "S001" || dl.Topic != contract.DLQTopic {
		t.Fatalf("dead letter %q on %s: want key S001 on %s", dl.Key, dl.Topic, contract.DLQTopic)
	}
}

func TestDeadLetterKeepsAnOrdinaryValueWhole(t *testing.T) {
	src := &kgo.Record{Topic: contract.EventsTopic, Value: []byte(`{"sensor_id":`)}
	dl := DeadLetter(contract.DLQTopic, src, contract.ReasonMalformedJSON, "unexpected EOF")
	if string(dl.Value) != `{"sensor_id":` || headers(dl)[contract.HeaderDetail] != "unexpected EOF" {
		t.Fatalf("dead letter %q with detail %q: want the value and detail unchanged", dl.Value, headers(dl)[contract.HeaderDetail])
	}
}

// The dead letter of a record a repartition stage re-keyed names the
// record's place in the source topic and its own key (none here), and
// keeps its other headers, not the repartition topic's.
func TestDeadLetterOfAReKeyedRecordNamesItsOrigin(t *testing.T) {
	rec := &kgo.Record{Topic: "g-s-repartition", Partition: 1, Offset: 77, Key: []byte("S001"), Value: []byte("{"),
		Headers: []kgo.RecordHeader{
			{Key: "trace", Value: []byte("t1")},
			{Key: contract.HeaderOriginTopic, Value: []byte("eventos_sensores")},
			{Key: contract.HeaderOriginPartition, Value: []byte("2")},
			{Key: contract.HeaderOriginOffset, Value: []byte("12345")},
		}}
	dl := DeadLetter(contract.DLQTopic, Origin(rec), contract.ReasonMalformedJSON, "x")
	h := map[string]string{}
	for _, kv := range dl.Headers {
		h[kv.Key] = string(kv.Value)
	}
	if h[contract.HeaderSourceTopic] != "eventos_sensores" || h[contract.HeaderSourcePartition] != "2" || h[contract.HeaderSourceOffset] != "12345" {
		t.Errorf("dead letter names %v, want eventos_sensores/2/12345", h)
	}
	if dl.Key != nil || h["trace"] != "t1" || len(dl.Headers) != 6 {
		t.Errorf("dead letter key %q, headers %v: want no key, the trace header and no origin header", dl.Key, dl.Headers)
	}
	withKey := *rec
	withKey.Headers = append(slices.Clone(rec.Headers), kgo.RecordHeader{Key: contract.HeaderOriginKey, Value: []byte("k")})
	if o := Origin(&withKey); string(o.Key) != "k" {
		t.Errorf("origin key %q, want k", o.Key)
	}
	if rec.Topic != "g-s-repartition" || rec.Offset != 77 || len(rec.Headers) != 4 {
		t.Error("Origin changed the record it was given")
	}
	if plain := (&kgo.Record{Topic: "t"}); Origin(plain) != plain {
		t.Error("a record without origin headers was copied")
	}
}
