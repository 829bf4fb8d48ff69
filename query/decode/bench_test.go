package decode

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/query/types"
)

// benchDecode decodes recs round and round into a batch of 1024 rows,
// reset when full, and reports ns per record.
func benchDecode(b *testing.B, d *Decoder, recs [][]byte) {
	out := d.NewBatch(1024)
	r := &Record{Partition: 1}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if out.N == 1024 {
			out.Reset()
		}
		r.Value = recs[i%len(recs)]
		if rej := d.Decode(r, out); rej != nil {
			b.Fatal(rej)
		}
		i++
	}
}

// BenchmarkDecodeSeed is the seed schema on the records the streamer's
// own decoder is benchmarked on (its BenchmarkDecode, same generator and
// seed): run `go test -bench BenchmarkDecode$ ./internal/decode/` in
// services/streamer for the reference figure.
func BenchmarkDecodeSeed(b *testing.B) {
	b.Run("copy", func(b *testing.B) { benchDecode(b, newSeedDecoder(b), seedMix(1024)) })
	b.Run("alias", func(b *testing.B) { // what aliasing the input would save
		d := newSeedDecoder(b)
		d.alias = true
		benchDecode(b, d, seedMix(1024))
	})
	b.Run("general", func(b *testing.B) { // the general path alone
		d := newSeedDecoder(b)
		d.ordered = false
		benchDecode(b, d, seedMix(1024))
	})
	b.Run("shuffled", func(b *testing.B) { // keys in a random order per record: the general path
		benchDecode(b, newSeedDecoder(b), seedShuffled(1024))
	})
	b.Run("sorted", func(b *testing.B) { // keys in one order, not the declared one: the learned program
		benchDecode(b, newSeedDecoder(b), seedSorted(1024))
	})
}

// seedShuffled returns seedMix's records with their keys in a random order
// (the same for a given n), keeping each record's spacing.
func seedShuffled(n int) [][]byte {
	rng := rand.New(rand.NewPCG(8, 8))
	return seedReordered(n, func(pairs []string) {
		for pairs[0] == "" || strings.HasPrefix(pairs[0], `"sensor_id"`) {
			rng.Shuffle(len(pairs), func(a, b int) { pairs[a], pairs[b] = pairs[b], pairs[a] })
		}
	})
}

// seedSorted returns seedMix's records with their keys in alphabetical
// order (hum, ok, sensor_id, temp, ts), as a producer that sorts its keys
// writes them (Python's sort_keys=True, Jackson's ORDER_MAP_ENTRIES_BY_KEYS),
// keeping each record's spacing.
func seedSorted(n int) [][]byte {
	return seedReordered(n, func(pairs []string) { slices.Sort(pairs) })
}

// seedReordered returns seedMix's records with their "key":value pairs
// put in order by reorder.
func seedReordered(n int, reorder func(pairs []string)) [][]byte {
	out := seedMix(n)
	for i, rec := range out {
		sep := ","
		if strings.Contains(string(rec), ", ") {
			sep = ", "
		}
		pairs := strings.Split(string(rec[1:len(rec)-1]), sep)
		reorder(pairs)
		out[i] = []byte("{" + strings.Join(pairs, sep) + "}")
	}
	return out
}

// wideColumns is a 12-field schema of device telemetry.
var wideColumns = []Column{
	{Name: "device_id", Type: types.TString, NotNull: true},
	{Name: "site", Type: types.TString},
	{Name: "ts", Type: types.TBigint, NotNull: true},
	{Name: "seq", Type: types.TBigint},
	{Name: "temp", Type: types.TDouble},
	{Name: "hum", Type: types.TDouble},
	{Name: "pressure", Type: types.TDouble},
	{Name: "battery", Type: types.TInt},
	{Name: "rssi", Type: types.TInt},
	{Name: "charging", Type: types.TBoolean},
	{Name: "fw", Type: types.TString},
	{Name: "price", Type: types.DecimalOf(10, 2)},
}

func wideRecords(n int) [][]byte {
	rng := rand.New(rand.NewPCG(3, 3))
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"device_id":"dev-%05d","site":"site-%d","ts":%d,"seq":%d,"temp":%.2f,"hum":%.2f,"pressure":%.1f,"battery":%d,"rssi":%d,"charging":%v,"fw":"1.%d.0","price":%d.%02d}`,
			rng.IntN(100000), rng.IntN(10), now+int64(i)*10, i, 18+22*rng.Float64(), 35+60*rng.Float64(),
			990+30*rng.Float64(), rng.IntN(101), -rng.IntN(90), rng.IntN(2) == 0, rng.IntN(5), rng.IntN(1000), rng.IntN(100))
	}
	return out
}

// BenchmarkDecodeWide is a 12-field schema of every payload type but
// TIMESTAMP.
func BenchmarkDecodeWide(b *testing.B) {
	d, err := New(JSON, wideColumns)
	if err != nil {
		b.Fatal(err)
	}
	benchDecode(b, d, wideRecords(1024))
}

// BenchmarkDecodeISOTimestamps is seed 003's orders: a customer, a
// DECIMAL(10,2) amount and an ISO-8601 timestamp string.
func BenchmarkDecodeISOTimestamps(b *testing.B) {
	d, err := New(JSON, []Column{
		{Name: "customer", Type: types.TString},
		{Name: "amount", Type: types.DecimalOf(10, 2)},
		{Name: "ts", Type: types.TTimestamp},
	})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	recs := make([][]byte, 1024)
	for i := range recs {
		recs[i] = fmt.Appendf(nil, `{"customer": "c%d", "amount": %d.%02d, "ts": "2024-05-01T10:%02d:%02d.%03dZ"}`,
			rng.IntN(1000), rng.IntN(500), rng.IntN(100), i/60%60, i%60, rng.IntN(1000))
	}
	benchDecode(b, d, recs)
}

// BenchmarkDecodeText is a text line per record (word count's source).
func BenchmarkDecodeText(b *testing.B) {
	d, err := New(Text, []Column{{Name: "value", Type: types.TString}})
	if err != nil {
		b.Fatal(err)
	}
	recs := make([][]byte, 1024)
	for i := range recs {
		recs[i] = []byte("the quick brown fox jumps over the lazy dog " + strconv.Itoa(i))
	}
	benchDecode(b, d, recs)
}
