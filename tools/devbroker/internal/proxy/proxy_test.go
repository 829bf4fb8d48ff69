package proxy

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// frame builds a response frame without its size prefix: correlation id,
// header tags (when flexible), body.
func frame(corr int32, headerTags []byte, resp kmsg.Response) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(corr))
	b = append(b, headerTags...)
	return resp.AppendTo(b)
}

func TestRewriteFlexibleMetadataKeepsHeaderTags(t *testing.T) {
	resp := kmsg.NewPtrMetadataResponse()
	resp.SetVersion(12) // flexible
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID, b.Host, b.Port = 0, "127.0.0.1", 40000
	resp.Brokers = append(resp.Brokers, b)
	topic := kmsg.NewMetadataResponseTopic()
	topic.Topic = kmsg.StringPtr("eventos_sensores")
	resp.Topics = append(resp.Topics, topic)
	// One header tag (tag 7, 2 bytes) that the proxy must pass through.
	tags := []byte{1, 7, 2, 0xAB, 0xCD}

	out, err := Rewrite(kmsg.Metadata.Int16(), 12, frame(42, tags, resp), "kafka", 29092)
	if err != nil {
		t.Fatalf("Rewrite: %v", err)
	}
	if size := binary.BigEndian.Uint32(out); int(size) != len(out)-4 {
		t.Fatalf("size prefix %d, frame %d bytes", size, len(out)-4)
	}
	if corr := int32(binary.BigEndian.Uint32(out[4:])); corr != 42 {
		t.Errorf("correlation id %d, want 42", corr)
	}
	if got := out[8 : 8+len(tags)]; string(got) != string(tags) {
		t.Errorf("header tags %x, want %x", got, tags)
	}
	got := kmsg.NewPtrMetadataResponse()
	got.SetVersion(12)
	if err := got.ReadFrom(out[8+len(tags):]); err != nil {
		t.Fatalf("decode rewritten: %v", err)
	}
	if len(got.Brokers) != 1 || got.Brokers[0].Host != "kafka" || got.Brokers[0].Port != 29092 {
		t.Errorf("brokers = %+v, want kafka:29092", got.Brokers)
	}
	if len(got.Topics) != 1 || *got.Topics[0].Topic != "eventos_sensores" {
		t.Errorf("topics = %+v, want eventos_sensores kept", got.Topics)
	}
}

func TestRewriteLeavesFailedCoordinatorAlone(t *testing.T) {
	resp := kmsg.NewPtrFindCoordinatorResponse()
	resp.SetVersion(2)
	resp.ErrorCode = 15 // COORDINATOR_NOT_AVAILABLE
	resp.NodeID, resp.Host, resp.Port = -1, "", -1

	out, err := Rewrite(kmsg.FindCoordinator.Int16(), 2, frame(1, nil, resp), "kafka", 29092)
	if err != nil {
		t.Fatalf("Rewrite: %v", err)
	}
	got := kmsg.NewPtrFindCoordinatorResponse()
	got.SetVersion(2)
	if err := got.ReadFrom(out[8:]); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if got.Host != "" || got.Port != -1 || got.ErrorCode != 15 {
		t.Errorf("failed coordinator became %s:%d (error %d); a client would dial a broker that is not coordinator", got.Host, got.Port, got.ErrorCode)
	}
}

func TestRewriteRejectsTruncatedTags(t *testing.T) {
	// Flexible header claiming a 9-byte tag with 1 byte present.
	bad := []byte{0, 0, 0, 1, 1, 0, 9, 0}
	if _, err := Rewrite(kmsg.Metadata.Int16(), 12, bad, "h", 1); !errors.Is(err, ErrBadFrame) {
		t.Errorf("Rewrite of truncated tags = %v, want ErrBadFrame", err)
	}
}
