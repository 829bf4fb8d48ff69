package agg

import (
	"encoding/binary"
	"math/bits"
)

// A store holds the state rows of one window (or, for session windows, all
// sessions). A state row is one (window, key, partition) partial aggregate,
// a fixed-size record of stride words in rec:
//
//	word 0: partial flag (bit 63: not a main row) | stamp (bits 32-62: the
//	        batch that last changed it) | next+1 (low 32: the group's next
//	        partial row, 0 at the end)
//	word 1: key offset in arena (high 32) | partition (low 32, int32)
//	[session stores: word 2 first event time, word 3 last event time]
//	then the counter and aggregate slots (see Op.slots)
//
// A group is one (window, key): its main row (the first partition that
// touched it), found through the hash table, and a chain of partial rows of
// other partitions in ascending partition order. Most groups have one row.
// Records are appended and never moved; a store is emptied whole when its
// window is evicted, and recycled.
type store struct {
	start int64 // window start (micros); 0 without a window
	n     int32 // records
	nGrp  int32 // groups (main rows)
	rec   []uint64
	arena []byte    // keys: uvarint length, bytes; one per group
	tab   []uint64  // open addressing: 0 empty, else hash>>32 << 32 | row+1
	strs  []string  // string min/max values; their slot holds index+1
	hll   [][]uint8 // HyperLogLog registers in pages of hllPage sketches; slot holds index+1
	nHLL  int       // sketches in hll
	sets  []map[string]struct{}
	// Side entries of freed records (session stores), for reuse.
	freeStr, freeHLL, freeSet []uint64

	touched []int32 // groups the current batch changed
	dirty   []int32 // groups changed since the last changelog
	shown   *shown  // Complete mode: the last output (complete.go)
}

const (
	wMeta0 = 0
	wMeta1 = 1
	wFirst = 2 // session stores only
	wLast  = 3
)

const partialFlag = 1 << 63

// maxSeq bounds batch stamps (31 bits).
const maxSeq = 1<<31 - 1

func (s *store) stamp(r int32, stride int) uint32 {
	return uint32(s.rec[int(r)*stride]>>32) & maxSeq
}
func (s *store) next(r int32, stride int) int32 {
	return int32(uint32(s.rec[int(r)*stride])) - 1
}
func (s *store) part(r int32, stride int) int32 { return int32(uint32(s.rec[int(r)*stride+1])) }
func (s *store) keyOff(r int32, stride int) uint32 {
	return uint32(s.rec[int(r)*stride+1] >> 32)
}

func (s *store) setStamp(r int32, stride int, seq uint32) {
	w := &s.rec[int(r)*stride]
	*w = *w&(partialFlag|0xFFFFFFFF) | uint64(seq)<<32
}
func (s *store) setNext(r int32, stride int, nx int32) {
	w := &s.rec[int(r)*stride]
	*w = *w&^0xFFFFFFFF | uint64(uint32(nx+1))
}

// key returns the key bytes of group row r.
func (s *store) key(r int32, stride int) []byte {
	off := s.keyOff(r, stride)
	if n := s.arena[off]; n < 0x80 { // one-byte length
		return s.arena[off+1 : off+1+uint32(n)]
	}
	n, k := binary.Uvarint(s.arena[off:])
	return s.arena[int(off)+k : int(off)+k+int(n)]
}

// reset empties the store for reuse, keeping its capacity.
func (s *store) reset() {
	s.n, s.nGrp = 0, 0
	s.rec = s.rec[:0]
	s.arena = s.arena[:0]
	clear(s.tab)
	clear(s.strs)
	s.strs = s.strs[:0]
	for _, p := range s.hll {
		clear(p)
	}
	s.nHLL = 0
	clear(s.sets)
	s.sets = s.sets[:0]
	s.touched = s.touched[:0]
	s.dirty = s.dirty[:0]
	s.shown = nil
	s.freeStr, s.freeHLL, s.freeSet = s.freeStr[:0], s.freeHLL[:0], s.freeSet[:0]
}

// release frees the side entries of record r (whose slots are described
// by slots, starting at word meta) for reuse by later records.
func (s *store) release(r int32, stride, meta int, slots []slot) {
	rec := s.rec[int(r)*stride:]
	for i, sl := range slots {
		x := rec[meta+i]
		if x == 0 {
			continue
		}
		switch sl.kind {
		case slotStr:
			s.strs[x-1] = ""
			s.freeStr = append(s.freeStr, x)
		case slotHLL:
			clear(s.sketchAt(x))
			s.freeHLL = append(s.freeHLL, x)
		case slotSet:
			clear(s.sets[x-1])
			s.freeSet = append(s.freeSet, x)
		}
	}
}

// newRow appends a record initialised from tmpl and returns its index.
func (s *store) newRow(tmpl []uint64, part int32, keyOff uint32) int32 {
	r := s.n
	s.n++
	s.rec = append(s.rec, tmpl...)
	rec := s.rec[len(s.rec)-len(tmpl):]
	rec[wMeta1] = uint64(keyOff)<<32 | uint64(uint32(part))
	return r
}

// find returns the main row of the group with key k and hash h, or -1.
func (s *store) find(h uint64, k []byte, stride int) int32 {
	if len(s.tab) == 0 {
		return -1
	}
	mask := uint64(len(s.tab) - 1)
	tag := h >> 32
	for i := home(h, mask); ; i = (i + 1) & mask {
		e := s.tab[i]
		if e == 0 {
			return -1
		}
		if e>>32 == tag {
			r := int32(uint32(e)) - 1
			if string(s.key(r, stride)) == string(k) {
				return r
			}
		}
	}
}

// insert adds a group with key k and hash h, which must be absent, and
// returns its main row.
func (s *store) insert(h uint64, k []byte, part int32, tmpl []uint64) int32 {
	off := uint32(len(s.arena))
	s.arena = binary.AppendUvarint(s.arena, uint64(len(k)))
	s.arena = append(s.arena, k...)
	r := s.newRow(tmpl, part, off)
	s.nGrp++
	if int(s.nGrp)*4 > len(s.tab)*3 {
		s.grow()
	}
	s.put(h, r)
	return r
}

func (s *store) put(h uint64, r int32) {
	mask := uint64(len(s.tab) - 1)
	i := home(h, mask)
	for s.tab[i] != 0 {
		i = (i + 1) & mask
	}
	s.tab[i] = h>>32<<32 | uint64(uint32(r+1))
}

// home is the table entry where the probe for hash h starts, in a table
// of mask+1 entries (a power of two, at most 2^32): the hash's top bits,
// which an entry keeps (its high word), so that growing the table places
// the entries again without reading a key or hashing it.
func home(h, mask uint64) uint64 {
	return h >> (bits.LeadingZeros64(mask) & 63)
}

// tableSize is the table length that holds n groups without growing: a
// power of two, at most 3/4 full.
func tableSize(n int) int {
	t := 16
	for n*4 > t*3 {
		t *= 2
	}
	return t
}

// grow doubles the table and places every entry again from the hash
// bits it keeps.
func (s *store) grow() {
	old := s.tab
	n := max(16, 2*len(old))
	s.tab = make([]uint64, n)
	for _, e := range old {
		if e != 0 {
			s.put(e, int32(uint32(e))-1)
		}
	}
}

// isMain reports whether r is a group's main row.
func (s *store) isMain(r int32, stride int) bool { return s.rec[int(r)*stride]&partialFlag == 0 }
