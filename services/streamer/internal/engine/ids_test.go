package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// tableIDs returns distinct ids that stress sensorTable: random ids of 0 to
// 40 bytes over an alphabet that makes shared prefixes likely (0x00 and 0xff
// among its bytes), every prefix of some of them (so ids of every length
// from 0 to 40, the exact word boundaries 4, 8, 15, 16 and 17 among them),
// and ids that differ only by trailing zero bytes.
func tableIDs(rng *rand.Rand) []string {
	alphabet := []byte{0x00, 0xff, 'a', 'b', '-', '0', '1'}
	seen := map[string]bool{}
	var ids []string
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	random := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			if rng.IntN(4) == 0 {
				b[i] = byte(rng.IntN(256))
			} else {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		return string(b)
	}
	for range 1500 {
		add(random(rng.IntN(41)))
	}
	for range 20 {
		long := random(40)
		for n := range len(long) + 1 {
			add(long[:n])
		}
	}
	for _, base := range []string{"", "S1", "sensor", "sensor-0", "sensor-0001", "0123456789abcdef"} {
		for z := range 20 {
			add(base + strings.Repeat("\x00", z))
		}
	}
	for _, n := range []int{4, 8, 15, 16, 17} {
		for range 50 {
			add(random(n))
		}
	}
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids
}

// checkTable compares tab with want for every id in ids, present or not,
// looking each up as a string, as a slice with garbage after its end (a load
// past the end would see it) and as a slice capped at its length.
func checkTable(t *testing.T, tab *sensorTable, want map[string]int32, ids []string) {
	t.Helper()
	for _, id := range ids {
		ws, wok := want[id]
		buf := append([]byte(id), 0x5a, 0xa5, 0x5a, 0xa5, 0x5a, 0xa5, 0x5a, 0xa5)
		forms := []struct {
			name   string
			lookup func() (int32, bool)
		}{
			{"string", func() (int32, bool) { return tab.lookupString(id) }},
			{"slice", func() (int32, bool) { return tab.lookup(buf[:len(id)]) }},
			{"capped slice", func() (int32, bool) { return tab.lookup(buf[:len(id):len(id)]) }},
		}
		for _, f := range forms {
			if s, ok := f.lookup(); s != ws || ok != wok {
				t.Fatalf("%s lookup of %q (%d bytes) = %d, %v; want %d, %v", f.name, id, len(id), s, ok, ws, wok)
			}
		}
	}
}

// TestSensorTable checks sensorTable against a map, inserting from a
// two-slot table so that it grows many times.
func TestSensorTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ids := tableIDs(rng)
	tab := newSensorTable(1)
	want := map[string]int32{}
	for i, id := range ids {
		tab.insert(id, int32(i))
		want[id] = int32(i)
		// After each insert: the new id and a few others, present or not;
		// after every doubling of the count: all of them.
		if i&(i+1) == 0 || i == len(ids)-1 {
			checkTable(t, &tab, want, ids)
		} else {
			checkTable(t, &tab, want, []string{id, ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))]})
		}
	}
	if n := len(tab.slots); n&(n-1) != 0 || 2*tab.n > n {
		t.Errorf("%d slots for %d short ids: want a power of two, at most half full", n, tab.n)
	}
	// Absent ids of every length, some sharing bytes with present ones.
	var absent []string
	for range 2000 {
		id := ids[rng.IntN(len(ids))] + string(rune('A'+rng.IntN(26)))
		if _, ok := want[id]; !ok {
			absent = append(absent, id)
		}
	}
	checkTable(t, &tab, want, absent)
}

// TestSensorTableSpreadsStructuredIDs checks that ids that differ in few
// bytes, as real ids do, still get short probes: for linear probing at a
// load of at most 1/2, a found id takes 1.5 probes on average if the hash
// spreads the ids like random ones.
func TestSensorTableSpreadsStructuredIDs(t *testing.T) {
	families := map[string][]string{}
	for i := range 20_000 {
		families["sensor-%06d"] = append(families["sensor-%06d"], fmt.Sprintf("sensor-%06d", i))
		families["S%d"] = append(families["S%d"], fmt.Sprintf("S%d", i))
		families["16 bytes"] = append(families["16 bytes"], fmt.Sprintf("lab-node-%07x", i))
	}
	// Only the top byte of each word differs (a multiply carries bits
	// upwards only: a poor hash puts these ids in the top byte alone).
	for a := range 128 {
		for b := range 128 {
			id := "abcdefg" + string(rune(a)) + "abcdefg" + string(rune(b))
			families["bytes 7 and 15"] = append(families["bytes 7 and 15"], id)
		}
	}
	for name, ids := range families {
		tab := newSensorTable(1)
		for i, id := range ids {
			tab.insert(id, int32(i))
		}
		mask := uint64(len(tab.slots) - 1)
		total := 0
		for _, id := range ids {
			w0, w1 := idWords(id)
			i := tab.home(w0, w1, len(id))
			for tab.slots[i&mask].w0 != w0 || tab.slots[i&mask].w1 != w1 || tab.slots[i&mask].tag != uint32(len(id))+1 {
				i++
			}
			total += int(i-tab.home(w0, w1, len(id))) + 1
		}
		if mean := float64(total) / float64(len(ids)); mean > 2 {
			t.Errorf("%s: %.2f probes per found id on average, want at most 2", name, mean)
		}
	}
}

// TestIDWords checks the packing of short ids (idWords, for both forms of
// id, and shortIDWords, which takes 4 to 16 bytes) against a plain copy into
// a zeroed 16-byte buffer.
func TestIDWords(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range inlineIDBytes + 1 {
		for range 100 {
			var buf [16]byte
			for i := range n {
				buf[i] = byte(rng.IntN(256))
			}
			var w0, w1 uint64
			for i := range 8 {
				w0 |= uint64(buf[i]) << (8 * i)
				w1 |= uint64(buf[8+i]) << (8 * i)
			}
			id := append(bytes.Clone(buf[:n]), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)[:n]
			if g0, g1 := idWords(id); g0 != w0 || g1 != w1 {
				t.Fatalf("idWords(%x) = %016x %016x, want %016x %016x", id, g0, g1, w0, w1)
			}
			if g0, g1 := idWords(string(id)); g0 != w0 || g1 != w1 {
				t.Fatalf("idWords(%q) = %016x %016x, want %016x %016x", id, g0, g1, w0, w1)
			}
			g0, g1, ok := shortIDWords(id)
			if ok != (n >= 4) || (ok && (g0 != w0 || g1 != w1)) {
				t.Fatalf("shortIDWords(%x) = %016x %016x %v, want %016x %016x %v", id, g0, g1, ok, w0, w1, n >= 4)
			}
		}
	}
	for _, n := range []int{inlineIDBytes + 1, 40} {
		if _, _, ok := shortIDWords(make([]byte, n)); ok {
			t.Fatalf("shortIDWords takes an id of %d bytes", n)
		}
	}
}

// TestSensorTableLookupDoesNotAllocate checks lookups of present and absent
// ids, short and long, in both forms.
func TestSensorTableLookupDoesNotAllocate(t *testing.T) {
	tab := newSensorTable(1)
	long := strings.Repeat("x", 40)
	for i, id := range []string{"sensor-0001", "S1", long} {
		tab.insert(id, int32(i))
	}
	ids := [][]byte{[]byte("sensor-0001"), []byte("sensor-0002"), []byte("S1"), []byte(long), []byte(long + "y")}
	strs := []string{"sensor-0001", "sensor-0002", "S1", long, long + "y"}
	var found int
	if n := testing.AllocsPerRun(100, func() {
		for i, id := range ids {
			if _, ok := tab.lookup(id); ok {
				found++
			}
			if _, ok := tab.lookupString(strs[i]); ok {
				found++
			}
		}
	}); n != 0 {
		t.Errorf("lookups allocated %v times per run", n)
	}
	if want := 101 * 6; found != want { // AllocsPerRun runs once more to warm up
		t.Errorf("found %d ids, want %d", found, want)
	}
}

// TestEngineTellsIDsApart feeds an engine ids that the table must tell apart
// (equal but for trailing zero bytes, prefixes, longer than a slot holds)
// through both AddRaw and Add, and checks each keeps its own row.
func TestEngineTellsIDsApart(t *testing.T) {
	long := "sensor-with-a-rather-long-id-0001"
	ids := []string{"S1", "S1\x00", "S1\x00\x00", "S", "sensor-0", "sensor-00", long, long[:16], long[:17], long + "\x00"}
	e := mustNew(t, cfg10s5s)
	e.StartBatch(0)
	for i, id := range ids {
		for range i + 1 { // sensor i gets i+1 readings
			e.AddRaw(0, []byte(id), 12_000, 1, 1, true)
			e.Add(1, Reading{id, 13_000, 1, 1, true})
		}
	}
	got := map[string]int64{}
	for _, r := range e.FinishBatch().Update {
		got[r.SensorID] += r.Eventos
	}
	for i, id := range ids {
		if got[id] != int64(2*(i+1)) {
			t.Errorf("sensor %q: %d readings, want %d", id, got[id], 2*(i+1))
		}
	}
	if len(got) != len(ids) {
		t.Errorf("%d sensors in the update, want %d", len(got), len(ids))
	}
}
