package consolidate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sensorlab/sensorlab/contract"
)

// layoutRows returns n window rows of 23 sensors with values whose float
// sums depend on the order they are added in (so that a fold in another
// order than the file's rows shows), one sensor id of longId's length.
func layoutRows(n, longID int) []contract.WindowRow {
	rows := make([]contract.WindowRow, n)
	long := strings.Repeat("L", longID)
	for i := range rows {
		id := fmt.Sprintf("S%03d", i%23+1)
		if longID > 0 && i%101 == 7 {
			id = long
		}
		ws := day.Add(time.Duration(i/23) * 10 * time.Second)
		rows[i] = contract.WindowRow{
			WinStart: ws, WinEnd: ws.Add(10 * time.Second), SensorID: id,
			Eventos: int64(i%97 + 1), AvgTemp: 18 + float64(i%2203)/97, AvgHum: 35 + float64(i%6007)/101 + 1e-13*float64(i),
			OKCount: int64(i % 89), MinTemp: 1, MaxTemp: 2,
		}
	}
	return rows
}

// decodeWith reads a window file with a columnReader in the given mode and
// returns its aggregate and the pages decoded by each path, summed over the
// columns.
func decodeWith(t *testing.T, data []byte, forceGeneric bool) (*Aggregator, pageCounts) {
	t.Helper()
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkReadColumns(pf.Schema()); err != nil {
		t.Fatal(err)
	}
	cr := columnReader{forceGeneric: forceGeneric}
	agg, err := cr.read(context.Background(), pf)
	if err != nil {
		t.Fatalf("generic %v: %v", forceGeneric, err)
	}
	if agg.WindowRows() != pf.NumRows() {
		t.Fatalf("generic %v: read %d rows of %d", forceGeneric, agg.WindowRows(), pf.NumRows())
	}
	var total pageCounts
	for _, c := range cr.pages {
		total.typed += c.typed
		total.generic += c.generic
	}
	return agg, total
}

// The typed path gives the generic path's aggregate, bit for bit, and both
// that of an Aggregator.Add per row (the reader before the typed path), on every
// layout parquet-go writes with the contract's row type: one or several row
// groups (large ones decoded on two goroutines), one or several pages per
// column chunk, data pages v1 and v2, plain and dictionary encodings, and
// column chunks whose dictionary overflows into plain pages. Pages the typed
// path does not handle (dictionary ones) fall back to the generic path.
func TestTypedAndGenericPathsAgree(t *testing.T) {
	dict := []parquet.WriterOption{
		parquet.DefaultEncodingFor(parquet.ByteArray, &parquet.RLEDictionary),
		parquet.DefaultEncodingFor(parquet.Int64, &parquet.RLEDictionary),
		parquet.DefaultEncodingFor(parquet.Double, &parquet.RLEDictionary),
	}
	cases := []struct {
		name    string
		rows    int
		longID  int // a sensor id this long: the typed byte-array buffer must grow
		options []parquet.WriterOption
		// What the typed path must decode: all pages (plain), none
		// (dictionary: all fall back), or some of each (mixed).
		want string
	}{
		{"plain, one page per column", 5000, 0, nil, "all typed"},
		{"plain, large row group on two goroutines", 3 * parallelRows, 0, nil, "all typed"},
		{"plain, many small pages", 5000, 0, []parquet.WriterOption{parquet.PageBufferSize(512)}, "all typed"},
		{"plain, several row groups and pages", 3 * parallelRows, 0, []parquet.WriterOption{parquet.MaxRowsPerRowGroup(parallelRows + 123), parquet.PageBufferSize(4096)}, "all typed"},
		{"plain, data page v1", 5000, 0, []parquet.WriterOption{parquet.DataPageVersion(1), parquet.PageBufferSize(2048)}, "all typed"},
		{"plain, a sensor id larger than the buffer", 5000, maxBytesBuffer + 1000, []parquet.WriterOption{parquet.PageBufferSize(256 << 10)}, "all typed"},
		{"dictionary", 5000, 0, append(dict, parquet.PageBufferSize(2048)), "all generic"},
		{"dictionary, several row groups", 3 * parallelRows, 0, append(dict, parquet.MaxRowsPerRowGroup(parallelRows+7)), "all generic"},
		{"dictionary overflowing into plain pages", 5000, 0, append(dict, parquet.DictionaryMaxBytes(64), parquet.PageBufferSize(1024)), "mixed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows := layoutRows(tc.rows, tc.longID)
			var buf bytes.Buffer
			w := parquet.NewGenericWriter[contract.WindowRow](&buf, append([]parquet.WriterOption{parquet.Compression(&parquet.Zstd)}, tc.options...)...)
			if _, err := w.Write(rows); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			typed, tp := decodeWith(t, buf.Bytes(), false)
			generic, gp := decodeWith(t, buf.Bytes(), true)
			t.Logf("pages: typed path %+v, generic only %+v", tp, gp)

			if gp.typed != 0 || gp.generic != tp.typed+tp.generic {
				t.Fatalf("forcing the generic path decoded %+v pages, the file has %d", gp, tp.typed+tp.generic)
			}
			switch {
			case tc.want == "all typed" && tp.generic != 0,
				tc.want == "all generic" && tp.typed != 0,
				tc.want == "mixed" && (tp.typed == 0 || tp.generic == 0):
				t.Fatalf("want %s pages, got %+v", tc.want, tp)
			}
			// Both paths, bit for bit (averages included), equal an Add per
			// row in the file's order: the sums are added in the same order.
			want := Consolidate(rows)
			for path, agg := range map[string]*Aggregator{"typed": typed, "generic": generic} {
				got := agg.Rows()
				if len(got) != len(want) {
					t.Fatalf("%s path: %d sensors, want %d", path, len(got), len(want))
				}
				for i := range got {
					if got[i] != want[i] {
						t.Errorf("%s path, sensor %d: %+v, want %+v", path, i, got[i], want[i])
					}
				}
			}
		})
	}
}

// readExactly accepts exactly the values a page says it has.
func TestReadExactly(t *testing.T) {
	// page models a typed reader over a page of n values read into a
	// destination of m: at most chunk values per call, never past m, and
	// io.EOF with the last values (eofLate: only on the next call).
	page := func(n, m, chunk int, eofLate bool) func(k int) (int, error) {
		left := n
		return func(k int) (int, error) {
			if left == 0 {
				return 0, io.EOF
			}
			r := min(chunk, left, m-k)
			left -= r
			if left == 0 && !eofLate {
				return r, io.EOF
			}
			return r, nil
		}
	}
	for _, eofLate := range []bool{false, true} {
		if err := readExactly(10, page(10, 10, 3, eofLate)); err != nil {
			t.Errorf("10 values in chunks of 3 (EOF late %v): %v", eofLate, err)
		}
		if err := readExactly(9, page(9, 9, 3, eofLate)); err != nil {
			t.Errorf("9 values in chunks of 3 (EOF late %v): %v", eofLate, err)
		}
		if err := readExactly(0, page(0, 0, 3, eofLate)); err != nil {
			t.Errorf("an empty page (EOF late %v): %v", eofLate, err)
		}
		if err := readExactly(10, page(7, 10, 3, eofLate)); err == nil {
			t.Errorf("a page of 10 values with 7 (EOF late %v) was accepted", eofLate)
		}
		if err := readExactly(10, page(11, 10, 3, eofLate)); err == nil {
			t.Errorf("a page of 10 values with 11 (EOF late %v) was accepted", eofLate)
		}
	}
	// A reader that makes no progress is an error, not a hang.
	if err := readExactly(10, func(int) (int, error) { return 0, nil }); err == nil {
		t.Error("a reader making no progress was accepted")
	}
	// A reader's error is returned.
	boom := errors.New("boom")
	if err := readExactly(10, func(int) (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Errorf("a reader's error gave %v", err)
	}
}

// panickyChunk is a column chunk whose pages make parquet-go panic, as it
// does on some malformed inputs.
type panickyChunk struct{ parquet.ColumnChunk }

func (panickyChunk) Pages() parquet.Pages { panic("malformed page") }

// panickyRowGroup is a row group whose column col panics when read.
type panickyRowGroup struct {
	parquet.RowGroup
	col int
}

func (rg panickyRowGroup) ColumnChunks() []parquet.ColumnChunk {
	chunks := slices.Clone(rg.RowGroup.ColumnChunks())
	chunks[rg.col] = panickyChunk{chunks[rg.col]}
	return chunks
}

// A decoder panic in a large row group (its columns decoded on two
// goroutines) is an error of the run, never a crash: readFile's recover does
// not see a panic on another goroutine.
func TestDecoderPanicIsAnError(t *testing.T) {
	var buf bytes.Buffer
	if err := parquet.Write(&buf, layoutRows(2*parallelRows, 0)); err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	rg := pf.RowGroups()[0]
	if rg.NumRows() < parallelRows {
		t.Fatalf("the row group has %d rows, want %d or more", rg.NumRows(), parallelRows)
	}
	for _, name := range readColumns {
		leaf, _ := pf.Schema().Lookup(name)
		var cr columnReader
		cr.idByName = make(map[string]int32)
		err := cr.readRowGroup(panickyRowGroup{rg, leaf.ColumnIndex})
		if err == nil || !strings.Contains(err.Error(), "malformed page") || !strings.Contains(err.Error(), name) {
			t.Errorf("a panic reading column %s gave %v", name, err)
		}
	}
}
