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

// StateFileHeader is the room a state file's frame takes before its
// payload: a caller building a state file in place (WriteStateFile) starts
// its buffer with that many bytes.
const StateFileHeader = stateHeader

func frameState(batchID int64, snapshot []byte) []byte {
	return finishFrame(withHeaderRoom(snapshot), 0, batchID)
}

// withHeaderRoom returns a state file's header room followed by payload,
// with room for the checksum.
func withHeaderRoom(payload []byte) []byte {
	b := make([]byte, stateHeader, stateHeader+len(payload)+stateTrailer)
	return append(b, payload...)
}

// finishFrame fills the header of the state file that starts at b[start]
// (stateHeader bytes of room, then the payload up to the end of b) and
// appends its checksum.
func finishFrame(b []byte, start int, batchID int64) []byte {
	h := b[start : start+stateHeader]
	copy(h, stateMagic)
	binary.BigEndian.PutUint16(h[4:], stateVersion)
	binary.BigEndian.PutUint16(h[6:], 0)
	binary.BigEndian.PutUint64(h[8:], uint64(batchID))
	binary.BigEndian.PutUint64(h[16:], uint64(len(b)-start-stateHeader))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
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
