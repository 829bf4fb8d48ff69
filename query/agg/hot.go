package agg

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"math/rand/v2"
)

// hasher hashes encoded group keys for the stores' tables and the group
// cache. A key of at most hotKeyMax bytes is read as two words (keyWords)
// and mixed by two 64x64→128-bit multiplications with random per-operator
// secrets; a longer key goes through maphash. The hash only places groups
// in tables: output and checkpoints never depend on it.
type hasher struct {
	seed maphash.Seed
	s    [2]uint64
}

func newHasher() hasher {
	return hasher{seed: maphash.MakeSeed(), s: [2]uint64{rand.Uint64(), rand.Uint64()}}
}

// hotKeyMax is the longest key read as words (keyWords) and cached.
const hotKeyMax = 16

// hash returns the hash of encoded key k.
func (h *hasher) hash(k []byte) uint64 {
	if len(k) <= hotKeyMax {
		w0, w1 := keyWords(k)
		return h.mix(w0, w1, len(k))
	}
	return maphash.Bytes(h.seed, k)
}

// mix is the hash of a key of n <= hotKeyMax bytes whose words are w0, w1:
// one folded multiplication (the high and low words of the 128-bit
// product, xored), as foldhash and wyhash finish short inputs.
func (h *hasher) mix(w0, w1 uint64, n int) uint64 {
	hi, lo := bits.Mul64(w0^h.s[0], w1^h.s[1]^uint64(n)<<56)
	return hi ^ lo
}

// keyWords packs a key of at most hotKeyMax bytes into two words such that
// two keys of the same length are equal exactly when their words are: 8 to
// 16 bytes as the first and the last eight (overlapping), 4 to 7 as the
// first and the last four, fewer byte by byte. It reads no byte outside k.
func keyWords(k []byte) (w0, w1 uint64) {
	n := len(k)
	switch {
	case n >= 8:
		return binary.LittleEndian.Uint64(k), binary.LittleEndian.Uint64(k[n-8:])
	case n >= 4:
		return uint64(binary.LittleEndian.Uint32(k)) | uint64(binary.LittleEndian.Uint32(k[n-4:]))<<32, 0
	case n > 0:
		return uint64(k[0]) | uint64(k[n/2])<<8 | uint64(k[n-1])<<16, 0
	}
	return 0, 0
}

// The group cache maps a key of at most hotKeyMax bytes to its record in
// a context: one window store and one input partition, in the current
// batch; the last hotContexts contexts keep their entries. A hit skips the table probe, the walk of the group's
// partial chain and the bookkeeping of the record's first change in the
// batch: an entry is written only after that lookup found (or created)
// the record and stamped it with the batch, so a hit is exactly a record
// the batch already changed, which the full path would return unchanged.
//
// An entry is valid while its generation is its context's. A context's
// table gets a new generation when it is reused for another store or
// partition, and every context is dropped at anything that changes what
// records mean: Finish (the batch ends, windows are evicted and their
// stores recycled, so a store's address may come back for another window)
// and loading a checkpoint. Records are never moved within a store while it lives, so
// nothing else invalidates an entry. It is open-addressed by hash, probing
// at most hotProbe entries from the key's home: a key is looked for until
// an entry of an older generation (free); when all hotProbe are taken by
// other keys, the new key replaces the one at its home. A miss only costs
// the full lookup, never a wrong record.
type hotEntry struct {
	w0, w1 uint64
	tag    uint64 // generation<<32 | key length+1; 0: never valid
	r      int32
	_      int32
}

const (
	hotSize  = 512 // entries; a power of two
	hotProbe = 4   // entries probed from a key's home
)

type hotCache struct {
	// The current context's table and generation, and the context.
	tab  *[hotSize]hotEntry
	gen  uint32
	w    *store // nil: none (the next row starts one)
	part int32
	// ctxs keeps the tables of the last hotContexts contexts, so that rows
	// alternating between a few windows (out-of-order event times) or
	// partitions find their entries again instead of starting over.
	ctxs [hotContexts]hotCtx
	next int // the context to reuse next
}

// hotCtx is one context's table.
type hotCtx struct {
	w    *store // nil: free (or invalidated)
	part int32
	tab  *[hotSize]hotEntry
	gen  uint32
}

// hotContexts is how many contexts keep their entries at once.
const hotContexts = 16

// invalidate drops every entry of every context: the next row starts a
// new context.
func (c *hotCache) invalidate() {
	c.w = nil
	for i := range c.ctxs {
		c.ctxs[i].w = nil
	}
}

// enter makes (w, part) the context: its table as it was if the context
// is one of the last hotContexts, else a reused table whose entries are
// invalidated by a new generation.
func (c *hotCache) enter(w *store, part int32) {
	if w != nil {
		for i := range c.ctxs {
			if x := &c.ctxs[i]; x.w == w && x.part == part {
				c.tab, c.gen, c.w, c.part = x.tab, x.gen, w, part
				return
			}
		}
	}
	x := &c.ctxs[c.next]
	c.next = (c.next + 1) % hotContexts
	if x.tab == nil {
		x.tab = new([hotSize]hotEntry)
	}
	x.gen++
	if x.gen == 0 { // wrapped: entries of old generations could match
		clear(x.tab[:])
		x.gen = 1
	}
	x.w, x.part = w, part
	c.tab, c.gen, c.w, c.part = x.tab, x.gen, w, part
}

// find returns the record of the key of length n and words w0, w1 with
// hash h in the current context, or -1 and the entry to write it to.
func (c *hotCache) find(h, w0, w1 uint64, n int) (int32, *hotEntry) {
	tag := uint64(c.gen)<<32 | uint64(n+1)
	home := h & (hotSize - 1)
	for j := uint64(0); j < hotProbe; j++ {
		e := &c.tab[(home+j)&(hotSize-1)]
		if e.tag == tag && e.w0 == w0 && e.w1 == w1 {
			return e.r, nil
		}
		if uint32(e.tag>>32) != c.gen {
			return -1, e
		}
	}
	return -1, &c.tab[home]
}

// put writes the record r of a key to entry e (from find).
func (c *hotCache) put(e *hotEntry, w0, w1 uint64, n int, r int32) {
	*e = hotEntry{w0: w0, w1: w1, tag: uint64(c.gen)<<32 | uint64(n+1), r: r}
}
