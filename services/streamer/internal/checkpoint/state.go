package checkpoint

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// A state file is the engine's snapshot framed so that truncation and bit rot
// are caught before the engine parses it:
//
//	magic "SLST" | version u16 | reserved u16 | batch id u64 | payload length u64 | payload | CRC-32C u32
//
// Integers are big-endian; the CRC covers every byte before it.
const (
	stateMagic   = "SLST"
	stateVersion = 1
	stateHeader  = 4 + 2 + 2 + 8 + 8
	stateTrailer = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func frameState(batchID int64, snapshot []byte) []byte {
	return appendFramedState(make([]byte, 0, stateHeader+len(snapshot)+stateTrailer), batchID, snapshot)
}

// appendFramedState appends the state file of snapshot to b.
func appendFramedState(b []byte, batchID int64, snapshot []byte) []byte {
	b = append(b, stateMagic...)
	b = binary.BigEndian.AppendUint16(b, stateVersion)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(batchID))
	b = binary.BigEndian.AppendUint64(b, uint64(len(snapshot)))
	b = append(b, snapshot...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// unframeState checks a state file and returns its snapshot. The snapshot is
// never nil, so that "no state" (nil) and "empty state" stay distinct.
func unframeState(batchID int64, b []byte) ([]byte, error) {
	if len(b) < stateHeader+stateTrailer {
		return nil, fmt.Errorf("truncated: %d bytes, a state file has at least %d", len(b), stateHeader+stateTrailer)
	}
	if string(b[:4]) != stateMagic {
		return nil, fmt.Errorf("not a state file (magic %q)", b[:4])
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != stateVersion {
		return nil, fmt.Errorf("state format version %d, this streamer reads %d", v, stateVersion)
	}
	if id := int64(binary.BigEndian.Uint64(b[8:])); id != batchID {
		return nil, fmt.Errorf("holds batch %d", id)
	}
	n := binary.BigEndian.Uint64(b[16:])
	if want := uint64(len(b) - stateHeader - stateTrailer); n != want {
		return nil, fmt.Errorf("truncated or padded: header says %d payload bytes, file has %d", n, want)
	}
	body := len(b) - stateTrailer
	if got, want := crc32.Checksum(b[:body], castagnoli), binary.BigEndian.Uint32(b[body:]); got != want {
		return nil, fmt.Errorf("checksum mismatch: computed %08x, stored %08x", got, want)
	}
	snap := make([]byte, n)
	copy(snap, b[stateHeader:body])
	return snap, nil
}
