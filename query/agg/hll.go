package agg

import (
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/sensorlab/sensorlab/query/types"
)

// approx_count_distinct is Spark's HyperLogLog++ at its default relative
// standard deviation 0.05: p = ceil(2·log2(1.106/0.05)) = 9, 512 registers,
// values hashed with XxHash64 and seed 42 as Spark hashes them (INT and
// BOOLEAN as 4 bytes, BIGINT, DECIMAL, TIMESTAMP and DOUBLE bits as 8,
// strings as their bytes). Registers are kept one per byte. The estimate
// uses linear counting up to Spark's threshold for p = 9 (400) and the raw
// HyperLogLog estimate above it: Spark's empirical bias correction between
// 400 and 5·512 is not applied, so estimates in that range may differ from
// Spark's by a few per cent (within the sketch's error).
const (
	hllP         = 9
	hllM         = 1 << hllP
	hllThreshold = 400
)

type hll []uint8

// hllInv[r] is 2^-r, exactly: a register's term of the estimate without a
// division. Registers are at most 64-hllP+1.
var hllInv = func() (t [64]float64) {
	for r := range t {
		t[r] = 1 / float64(uint64(1)<<r)
	}
	return t
}()

// hllPage is the number of sketches a page of store.hll holds: sketches
// are added a page at a time, never moved.
const hllPage = 64

// sketchAt returns sketch i+1 (a slot's value) of st.
func (st *store) sketchAt(x uint64) hll {
	i := x - 1
	p := st.hll[i/hllPage]
	o := i % hllPage * hllM
	return hll(p[o : o+hllM : o+hllM])
}

func (h hll) add(x uint64) {
	idx := x >> (64 - hllP)
	w := x<<hllP | 1<<(hllP-1)
	r := uint8(bits.LeadingZeros64(w) + 1)
	if r > h[idx] {
		h[idx] = r
	}
}

func (h hll) merge(o hll) {
	for i, r := range o {
		if r > h[i] {
			h[i] = r
		}
	}
}

func (h hll) estimate() int64 {
	const m = float64(hllM)
	// Linear counting needs only the number of empty registers, counted
	// eight at a time: a sketch of a few values (a session's, a small
	// group's) is estimated without the sum of 2^-register.
	if v := float64(h.zeros()); v > 0 {
		if lc := m * math.Log(m/v); lc <= hllThreshold {
			return int64(math.Round(lc))
		}
	}
	alphaM2 := 0.7213 / (1 + 1.079/m) * m * m
	var zInv float64
	for _, r := range h {
		zInv += hllInv[r&63]
	}
	return int64(math.Round(alphaM2 / zInv))
}

// zeros counts the registers that are 0.
func (h hll) zeros() int {
	const lo7 = 0x7f7f7f7f7f7f7f7f
	n := 0
	for i := 0; i+8 <= len(h); i += 8 {
		x := binary.LittleEndian.Uint64(h[i:])
		// The high bit of each byte of x that is 0, and only those.
		n += bits.OnesCount64(^((x&lo7 + lo7) | x | lo7))
	}
	for _, r := range h[len(h)&^7:] {
		if r == 0 {
			n++
		}
	}
	return n
}

// hashValue is Spark's XxHash64 (seed 42) of v[i], which is not null.
func hashValue(v *types.Vector, i int) uint64 {
	var b [8]byte
	switch v.Type.Kind {
	case types.String:
		return xxh64([]byte(v.Str[i]), 42)
	case types.Boolean:
		if v.Bool[i] {
			b[0] = 1
		}
		return xxh64(b[:4], 42)
	case types.Int:
		binary.LittleEndian.PutUint32(b[:], uint32(int32(v.I64[i])))
		return xxh64(b[:4], 42)
	case types.Double:
		f := v.F64[i]
		u := math.Float64bits(f)
		if f == 0 {
			u = 0
		} else if f != f {
			u = canonicalNaN
		}
		binary.LittleEndian.PutUint64(b[:], u)
	default:
		binary.LittleEndian.PutUint64(b[:], uint64(v.I64[i]))
	}
	return xxh64(b[:], 42)
}

const (
	xxP1 uint64 = 11400714785074694791
	xxP2 uint64 = 14029467366897019727
	xxP3 uint64 = 1609587929392839161
	xxP4 uint64 = 9650029242287828579
	xxP5 uint64 = 2870177450012600261
)

func xxRound(acc, in uint64) uint64 {
	acc += in * xxP2
	return bits.RotateLeft64(acc, 31) * xxP1
}

func xxMerge(acc, v uint64) uint64 {
	acc ^= xxRound(0, v)
	return acc*xxP1 + xxP4
}

// xxh64 is XXH64 of b with the given seed.
func xxh64(b []byte, seed uint64) uint64 {
	n := len(b)
	var h uint64
	if n >= 32 {
		v1, v2, v3, v4 := seed+xxP1+xxP2, seed+xxP2, seed, seed-xxP1
		for len(b) >= 32 {
			v1 = xxRound(v1, binary.LittleEndian.Uint64(b))
			v2 = xxRound(v2, binary.LittleEndian.Uint64(b[8:]))
			v3 = xxRound(v3, binary.LittleEndian.Uint64(b[16:]))
			v4 = xxRound(v4, binary.LittleEndian.Uint64(b[24:]))
			b = b[32:]
		}
		h = bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) + bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
		h = xxMerge(h, v1)
		h = xxMerge(h, v2)
		h = xxMerge(h, v3)
		h = xxMerge(h, v4)
	} else {
		h = seed + xxP5
	}
	h += uint64(n)
	for ; len(b) >= 8; b = b[8:] {
		h ^= xxRound(0, binary.LittleEndian.Uint64(b))
		h = bits.RotateLeft64(h, 27)*xxP1 + xxP4
	}
	if len(b) >= 4 {
		h ^= uint64(binary.LittleEndian.Uint32(b)) * xxP1
		h = bits.RotateLeft64(h, 23)*xxP2 + xxP3
		b = b[4:]
	}
	for _, c := range b {
		h ^= uint64(c) * xxP5
		h = bits.RotateLeft64(h, 11) * xxP1
	}
	h ^= h >> 33
	h *= xxP2
	h ^= h >> 29
	h *= xxP3
	h ^= h >> 32
	return h
}
