package engine

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// sensorTable maps sensor ids to sensor numbers. It is the lookup every
// reading makes, so it is shaped to read one slot per lookup:
//
//   - Ids of up to inlineIDBytes bytes (all the lab's) are kept inline in
//     the slots of an open-addressing table with linear probing: a slot
//     holds the id's bytes as two words, its length and its sensor number.
//     A lookup hashes the id, reads its home slot and compares three words;
//     it never dereferences a string. Only a collision reads on, to the
//     adjacent slot.
//   - The table has a power-of-two number of slots and is at most half
//     full, so probe sequences stay short and always end at an empty slot.
//     It doubles, rehashing every id, when an insert would pass that load.
//   - Longer ids (the contract allows up to contract.MaxSensorIDBytes) go to
//     a plain map: correct, just slower.
//
// Ids are never removed. A sensorTable is made by newSensorTable.
type sensorTable struct {
	slots []idSlot         // len is a power of two >= 2; at most half are used
	shift uint8            // 64 - log2(len(slots)): home takes the hash's top bits
	n     int              // used slots
	seed0 uint64           // random, per table: see home
	seed1 uint64           // likewise
	long  map[string]int32 // ids longer than inlineIDBytes; nil until one comes
}

// inlineIDBytes is the longest id kept inline in a slot.
const inlineIDBytes = 16

// idSlot is one slot of a sensorTable: an id of at most inlineIDBytes bytes
// and its sensor number, or empty. It is 24 bytes, so a quarter of the slots
// straddle two cache lines; padding it to 32 bytes (two slots per line)
// measured slower at 100,000 sensors: the table's size matters more there.
type idSlot struct {
	w0, w1 uint64 // the id's bytes as idWords packs them
	tag    uint32 // the id's length + 1; 0 marks an empty slot
	s      int32  // sensor number
}

// newSensorTable returns an empty table with room for at least n/2 short
// ids before it grows.
func newSensorTable(n int) sensorTable {
	var t sensorTable
	t.seed0, t.seed1 = rand.Uint64(), rand.Uint64()
	t.resize(max(n, 2))
	return t
}

// resize replaces the slots with at least n empty ones (a power of two).
func (t *sensorTable) resize(n int) {
	size, log := 2, 1
	for size < n {
		size, log = 2*size, log+1
	}
	t.slots = make([]idSlot, size)
	t.shift = uint8(64 - log)
	t.n = 0
}

// lookup returns the sensor number of id and whether id is in the table. It
// does not allocate and does not retain id.
func (t *sensorTable) lookup(id []byte) (int32, bool) { return lookupID(t, id) }

// shortIDWords is idWords for the ids most sensors have, of 4 to
// inlineIDBytes bytes, small enough to be inlined: a caller looks such an id
// up with probe, without lookup's two calls (ok is false for other ids: call
// lookup).
func shortIDWords(id []byte) (w0, w1 uint64, ok bool) {
	n := len(id)
	switch {
	case n < 4 || n > inlineIDBytes:
		return 0, 0, false
	case n >= 8:
		// As idWords: the last eight bytes, shifted down to bytes 8..n-1.
		return binary.LittleEndian.Uint64(id), binary.LittleEndian.Uint64(id[n-8:]) >> (8 * (16 - n)), true
	}
	return uint64(binary.LittleEndian.Uint32(id)) | uint64(binary.LittleEndian.Uint32(id[n-4:]))<<(8*(n-4)&63), 0, true
}

// lookupString is lookup for a string id.
func (t *sensorTable) lookupString(id string) (int32, bool) { return lookupID(t, id) }

// lookupID is lookup for either form of id (methods cannot be generic).
func lookupID[T idBytes](t *sensorTable, id T) (int32, bool) {
	if len(id) > inlineIDBytes {
		s, ok := t.long[string(id)] // no allocation: the compiler converts in place
		return s, ok
	}
	w0, w1 := idWords(id)
	return t.probe(w0, w1, len(id))
}

// probe returns the sensor number of the short id of words w0, w1 (as
// idWords packs them) and length n, and whether it is in the table.
func (t *sensorTable) probe(w0, w1 uint64, n int) (int32, bool) {
	tag := uint32(n) + 1
	slots := t.slots
	mask := uint64(len(slots) - 1)
	// The probe ends: the table is at most half full, so it has empty slots.
	for i := t.home(w0, w1, n); ; i++ {
		sl := &slots[i&mask]
		// The length is compared too: "S1" and "S1\x00" have the same words.
		if sl.tag == tag && sl.w0 == w0 && sl.w1 == w1 {
			return sl.s, true
		}
		if sl.tag == 0 { // inserted, id would be before this empty slot
			return 0, false
		}
	}
}

// insert adds id, which must not be in the table yet, as sensor number s.
// It copies a short id's bytes; a long id's string is kept.
func (t *sensorTable) insert(id string, s int32) {
	if len(id) > inlineIDBytes {
		if t.long == nil {
			t.long = make(map[string]int32)
		}
		t.long[id] = s
		return
	}
	if 2*(t.n+1) > len(t.slots) {
		old := t.slots
		t.resize(2 * len(old))
		for _, sl := range old {
			if sl.tag != 0 {
				t.place(sl)
			}
		}
	}
	w0, w1 := idWords(id)
	t.place(idSlot{w0: w0, w1: w1, tag: uint32(len(id)) + 1, s: s})
}

// place puts sl in the first empty slot from its home. There is one, since
// insert keeps the table at most half full.
func (t *sensorTable) place(sl idSlot) {
	mask := uint64(len(t.slots) - 1)
	i := t.home(sl.w0, sl.w1, int(sl.tag-1))
	for t.slots[i&mask].tag != 0 {
		i++
	}
	t.slots[i&mask] = sl
	t.n++
}

// home returns the slot where the probe for an id of words w0, w1 and length
// n starts. The hash is wyhash's mix: the 128-bit product of the two words,
// its halves xored. Every bit of each word reaches the product's high half,
// so ids differing anywhere get unrelated hashes; a cheaper xor of two
// 64-bit products (w0*K0 ^ w1*K1) would not do: a multiply carries a word's
// bits only upwards, so ids differing only in the top bytes of both words
// (bytes 7 and 15) would differ only in the top byte of the hash, 65,536 such
// ids sharing 256 homes. The length is xored in and the final multiply
// carries it up to the top bits, which home takes (they are the best mixed),
// so "S1" and "S1\x00" land apart too.
//
// The words are xored with random seeds first, one pair per table, so that a
// product is zero (every id with that word colliding) only for words no one
// can predict, and a given set of ids collides in one engine at most. It is
// no cryptographic defence: interned ids are never forgotten anyway, so a
// producer flooding new ids costs memory.
func (t *sensorTable) home(w0, w1 uint64, n int) uint64 {
	hi, lo := bits.Mul64(w0^t.seed0, w1^t.seed1)
	return ((hi ^ lo ^ uint64(n)) * hashK) >> t.shift
}

// hashK is an odd constant with well-spread bits (2^64 / the golden ratio,
// as in splitmix64).
const hashK = 0x9e3779b97f4a7c15

// idBytes is a sensor id as the engine gets it: a string, or a slice into a
// record.
type idBytes interface{ ~string | ~[]byte }

// idWords packs an id of at most inlineIDBytes bytes into two little-endian
// words, zero-padded: byte i of the id is byte i%8 of word i/8. Ids that
// differ only in trailing zero bytes get the same words; their lengths tell
// them apart.
//
// It never reads past the id's end (id may be a slice into a record). Where
// the length is not a power of two it makes two overlapping loads: the
// second, of the last bytes, is shifted to those bytes' positions, so the
// bytes both loads hold land on the same bits and OR-ing them is exact.
func idWords[T idBytes](id T) (w0, w1 uint64) {
	switch n := len(id); {
	case n >= 8:
		// Bytes 8..n-1 are the top n-8 of the last eight: shift out the
		// 16-n below them (all of them when n == 8: Go's >> 64 is 0).
		return le64(id), le64(id[n-8:]) >> (8 * (16 - n))
	case n >= 4:
		return le32(id) | le32(id[n-4:])<<(8*(n-4)), 0
	case n >= 2:
		return le16(id) | le16(id[n-2:])<<(8*(n-2)), 0
	case n == 1:
		return uint64(id[0]), 0
	}
	return 0, 0
}

// le16, le32 and le64 load the first 2, 4 and 8 bytes of b as a
// little-endian word. They work on strings too, unlike encoding/binary; the
// compiler merges the byte loads into one load.
func le16[T idBytes](b T) uint64 {
	_ = b[1] // one bounds check
	return uint64(b[0]) | uint64(b[1])<<8
}

func le32[T idBytes](b T) uint64 {
	_ = b[3]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24
}

func le64[T idBytes](b T) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}
