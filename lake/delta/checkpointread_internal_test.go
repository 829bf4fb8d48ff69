package delta

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// Every checkpoint any test of this package reads (the writer's, Spark's
// fixture, multi-part ones, those after OPTIMIZE, VACUUM and log cleanup)
// is read by both readers as well, and the read fails if the column reader
// gives other actions than the generic one. Benchmarks turn this off
// (CheckpointCrossCheck in export_test.go).
var crossCheckOff atomic.Bool

func init() {
	testHookCheckpointFile = func(f *parquet.File, err error) error {
		if crossCheckOff.Load() {
			return err
		}
		if derr := compareCheckpointReaders(f); derr != nil {
			return derr
		}
		return err
	}
}

// errDeclined: the column reader did not take the file (its layout).
var errDeclined = errors.New("the column reader declined the layout")

// columnActions reads f with the column reader only.
func columnActions(f *parquet.File) ([]Action, error) {
	r, err := newCkReader(f.Schema())
	if errors.Is(err, errShape) {
		return nil, fmt.Errorf("%w: %w", errDeclined, err)
	}
	if err != nil {
		return nil, err
	}
	var out []Action
	err = r.read(f, func(a Action) error { out = append(out, a); return nil })
	return out, err
}

// genericActions reads f with the generic row reader.
func genericActions(f *parquet.File) ([]Action, error) {
	var out []Action
	err := readCheckpointRows(f, func(a Action) error { out = append(out, a); return nil })
	return out, err
}

// compareCheckpointReaders reads f with both readers: they must both fail
// (the same kind of error), or give equal actions in the same order. A
// layout the column reader declines is not compared (the generic reader
// reads it).
func compareCheckpointReaders(f *parquet.File) error {
	col, cerr := columnActions(f)
	if errors.Is(cerr, errDeclined) {
		return nil
	}
	gen, gerr := genericActions(f)
	var cu, gu *UnsupportedFeatureError
	switch {
	case (cerr == nil) != (gerr == nil) || errors.As(cerr, &cu) != errors.As(gerr, &gu):
		return fmt.Errorf("checkpoint readers disagree: column reader: %v; generic reader: %v", cerr, gerr)
	case cerr != nil:
		return nil
	}
	for i := range max(len(col), len(gen)) {
		if i >= len(col) || i >= len(gen) {
			return fmt.Errorf("checkpoint readers disagree: %d actions from the column reader, %d from the generic one", len(col), len(gen))
		}
		if !reflect.DeepEqual(col[i], gen[i]) {
			return fmt.Errorf("checkpoint readers disagree at action %d:\ncolumn:  %s\ngeneric: %s", i, dumpAction(col[i]), dumpAction(gen[i]))
		}
	}
	return nil
}

func dumpAction(a Action) string {
	switch {
	case a.Add != nil:
		return fmt.Sprintf("add %+v dv %+v", *a.Add, a.Add.DeletionVector)
	case a.Remove != nil:
		return fmt.Sprintf("remove %+v dv %+v", *a.Remove, a.Remove.DeletionVector)
	case a.Metadata != nil:
		return fmt.Sprintf("metaData %#v", *a.Metadata)
	case a.Protocol != nil:
		return fmt.Sprintf("protocol %#v", *a.Protocol)
	case a.Txn != nil:
		return fmt.Sprintf("txn %+v", *a.Txn)
	case a.DomainMetadata != nil:
		return fmt.Sprintf("domainMetadata %+v", *a.DomainMetadata)
	}
	return fmt.Sprintf("%+v", a)
}

func openParquet(t *testing.T, data []byte) *parquet.File {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// mustAgree checks that the column reader takes the file and gives the
// generic reader's actions; it returns them.
func mustAgree(t *testing.T, data []byte) []Action {
	t.Helper()
	f := openParquet(t, data)
	if _, err := columnActions(f); errors.Is(err, errDeclined) {
		t.Fatalf("the column reader declined a layout it must read: %v", err)
	}
	if err := compareCheckpointReaders(f); err != nil {
		t.Fatal(err)
	}
	acts, err := genericActions(f)
	if err != nil {
		t.Fatal(err)
	}
	return acts
}

// randString returns a short valid UTF-8 string with the characters paths
// and partition values escape.
func randString(rng *rand.Rand) string {
	const alphabet = "abcXYZ019 %=:/+é€_-."
	runes := []rune(alphabet)
	var b strings.Builder
	for range 1 + rng.IntN(12) {
		b.WriteRune(runes[rng.IntN(len(runes))])
	}
	return b.String()
}

func randMap(rng *rand.Rand, nilOK bool) map[string]string {
	switch rng.IntN(4) {
	case 0:
		if nilOK {
			return nil
		}
		return map[string]string{}
	case 1:
		return map[string]string{}
	}
	m := map[string]string{}
	for range 1 + rng.IntN(3) {
		v := randString(rng)
		if rng.IntN(4) == 0 {
			v = "" // a null value
		}
		m[randString(rng)] = v
	}
	return m
}

func randPtr[T any](rng *rand.Rand, v T) *T {
	if rng.IntN(3) == 0 {
		return nil
	}
	return &v
}

func randPath(rng *rand.Rand) string {
	switch rng.IntN(5) {
	case 0:
		return "s3a://bucket/t/" + EncodePath(randString(rng)+".parquet")
	case 1:
		return "/abs/" + EncodePath(randString(rng))
	}
	return EncodePath(fmt.Sprintf("date=%s/part-%d-%s.parquet", randString(rng), rng.IntN(1000), randString(rng)))
}

// randomState is a table state as a writer would leave it: protocol,
// metadata, txns, domains, live files and tombstones of every shape this
// package's checkpoint writer writes.
func randomState(rng *rand.Rand) *state {
	st := newState()
	st.version = int64(rng.IntN(1000))
	st.protocol = &Protocol{MinReaderVersion: 1, MinWriterVersion: 2}
	if rng.IntN(2) == 0 {
		st.protocol = &Protocol{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: []string{"timestampNtz"}[:rng.IntN(2)],
			WriterFeatures: []string{"appendOnly", "domainMetadata", "timestampNtz"}[:rng.IntN(4)]}
	}
	st.metadata = &Metadata{ID: randString(rng), SchemaString: `{"type":"struct","fields":[]}`,
		Format: Format{Provider: "parquet", Options: randMap(rng, false)}, PartitionColumns: []string{"date", "region"}[:rng.IntN(3)],
		Configuration: randMap(rng, false), CreatedTime: randPtr(rng, rng.Int64())}
	if rng.IntN(2) == 0 {
		st.metadata.Name, st.metadata.Description = randString(rng), randString(rng)
	}
	for range rng.IntN(4) {
		id := randString(rng)
		st.txns[id] = Txn{AppID: id, Version: rng.Int64N(1 << 40), LastUpdated: randPtr(rng, rng.Int64())}
	}
	for range rng.IntN(3) {
		d := randString(rng)
		st.domains[d] = DomainMetadata{Domain: d, Configuration: randString(rng)}
	}
	for range rng.IntN(300) {
		a := &Add{Path: randPath(rng), PartitionValues: randMap(rng, true), Size: rng.Int64N(1 << 30),
			ModificationTime: rng.Int64(), DataChange: false}
		if rng.IntN(3) > 0 {
			a.Stats = fmt.Sprintf(`{"numRecords":%d,"minValues":{"x":%q}}`, rng.IntN(100), randString(rng))
		}
		if rng.IntN(3) == 0 {
			a.Tags = randMap(rng, true)
		}
		p, _ := DecodePath(a.Path)
		st.files[fileKey{path: p}] = a
	}
	for range rng.IntN(300) {
		r := &Remove{Path: randPath(rng), DeletionTimestamp: ptr(rng.Int64N(1 << 50)), DataChange: rng.IntN(2) == 0,
			ExtendedFileMetadata: randPtr(rng, rng.IntN(2) == 0), PartitionValues: randMap(rng, true), Size: randPtr(rng, rng.Int64())}
		p, _ := DecodePath(r.Path)
		if _, live := st.files[fileKey{path: p}]; !live { // a state never holds both
			st.tombstones[fileKey{path: p}] = r
		}
	}
	return st
}

// The wide layout: every field Spark and delta-rs write (deletion vectors,
// row tracking, clustering, stats_parsed, remove's stats and tags,
// commitInfo), fields in another order, some dictionary-encoded.
type wideDV struct {
	StorageType    *string `parquet:"storageType,optional,dict"`
	PathOrInlineDv *string `parquet:"pathOrInlineDv,optional"`
	Offset         *int32  `parquet:"offset,optional"`
	SizeInBytes    *int32  `parquet:"sizeInBytes,optional"`
	Cardinality    *int64  `parquet:"cardinality,optional"`
	MaxRowIndex    *int64  `parquet:"maxRowIndex,optional"`
}

type wideStatsParsed struct {
	NumRecords *int64 `parquet:"numRecords,optional"`
}

type wideAdd struct {
	Path                    *string            `parquet:"path,optional,dict"`
	PartitionValues         map[string]*string `parquet:"partitionValues,optional"`
	Size                    *int64             `parquet:"size,optional"`
	ModificationTime        *int64             `parquet:"modificationTime,optional"`
	DataChange              *bool              `parquet:"dataChange,optional"`
	Stats                   *string            `parquet:"stats,optional"`
	Tags                    map[string]*string `parquet:"tags,optional"`
	DeletionVector          *wideDV            `parquet:"deletionVector,optional"`
	BaseRowID               *int64             `parquet:"baseRowId,optional"`
	DefaultRowCommitVersion *int64             `parquet:"defaultRowCommitVersion,optional"`
	ClusteringProvider      *string            `parquet:"clusteringProvider,optional"`
	StatsParsed             *wideStatsParsed   `parquet:"stats_parsed,optional"`
}

type wideRemove struct {
	DataChange              *bool              `parquet:"dataChange,optional"`
	Path                    *string            `parquet:"path,optional"`
	DeletionTimestamp       *int64             `parquet:"deletionTimestamp,optional"`
	ExtendedFileMetadata    *bool              `parquet:"extendedFileMetadata,optional"`
	PartitionValues         map[string]*string `parquet:"partitionValues,optional"`
	Size                    *int32             `parquet:"size,optional"` // INT32: read as a long
	Stats                   *string            `parquet:"stats,optional"`
	Tags                    map[string]*string `parquet:"tags,optional"`
	DeletionVector          *wideDV            `parquet:"deletionVector,optional"`
	BaseRowID               *int64             `parquet:"baseRowId,optional"`
	DefaultRowCommitVersion *int64             `parquet:"defaultRowCommitVersion,optional"`
}

type wideCommitInfo struct {
	Operation *string `parquet:"operation,optional"`
}

type wideRow struct {
	CommitInfo     *wideCommitInfo   `parquet:"commitInfo,optional"`
	Remove         *wideRemove       `parquet:"remove,optional"`
	Add            *wideAdd          `parquet:"add,optional"`
	Txn            *ckTxn            `parquet:"txn,optional"`
	DomainMetadata *ckDomainMetadata `parquet:"domainMetadata,optional"`
	MetaData       *ckMetadata       `parquet:"metaData,optional"`
	Protocol       *ckProtocol       `parquet:"protocol,optional"`
}

func randOptString(rng *rand.Rand) *string { return randPtr(rng, randString(rng)) }

func randStringMap(rng *rand.Rand) map[string]*string {
	m := randMap(rng, true)
	if m == nil {
		return nil
	}
	out := map[string]*string{}
	for k, v := range m {
		out[k] = optString(v)
	}
	return out
}

func randDV(rng *rand.Rand) *wideDV {
	if rng.IntN(3) > 0 {
		return nil
	}
	return &wideDV{StorageType: randPtr(rng, []string{"u", "i", "p"}[rng.IntN(3)]), PathOrInlineDv: randOptString(rng),
		Offset: randPtr(rng, rng.Int32()), SizeInBytes: randPtr(rng, rng.Int32()), Cardinality: randPtr(rng, rng.Int64()),
		MaxRowIndex: randPtr(rng, rng.Int64())}
}

// randomWideRows returns rows of the wide layout: mostly one action each,
// some with none (commitInfo only) or with several.
func randomWideRows(rng *rand.Rand) []wideRow {
	st := randomState(rng)
	base, _ := checkpointRows(st, 0, true)
	var rows []wideRow
	for _, b := range base {
		w := wideRow{Txn: b.Txn, DomainMetadata: b.DomainMetadata, MetaData: b.MetaData, Protocol: b.Protocol}
		if b.Add != nil {
			w.Add = &wideAdd{Path: b.Add.Path, PartitionValues: randStringMap(rng), Size: randPtr(rng, rng.Int64()),
				ModificationTime: randPtr(rng, rng.Int64()), DataChange: randPtr(rng, rng.IntN(2) == 0), Stats: b.Add.Stats,
				Tags: randStringMap(rng), DeletionVector: randDV(rng), BaseRowID: randPtr(rng, rng.Int64()),
				DefaultRowCommitVersion: randPtr(rng, rng.Int64()), ClusteringProvider: randOptString(rng),
				StatsParsed: randPtr(rng, wideStatsParsed{NumRecords: randPtr(rng, rng.Int64())})}
		}
		if b.Remove != nil {
			w.Remove = &wideRemove{Path: b.Remove.Path, DeletionTimestamp: b.Remove.DeletionTimestamp, DataChange: b.Remove.DataChange,
				ExtendedFileMetadata: randPtr(rng, rng.IntN(2) == 0), PartitionValues: randStringMap(rng), Size: randPtr(rng, rng.Int32()),
				Stats: randOptString(rng), Tags: randStringMap(rng), DeletionVector: randDV(rng),
				BaseRowID: randPtr(rng, rng.Int64()), DefaultRowCommitVersion: randPtr(rng, rng.Int64())}
		}
		rows = append(rows, w)
		switch rng.IntN(20) {
		case 0:
			rows = append(rows, wideRow{CommitInfo: &wideCommitInfo{Operation: randOptString(rng)}})
		case 1: // two actions in one row: applied in the protocol's order
			rows[len(rows)-1].Txn = &ckTxn{AppID: randOptString(rng), Version: randPtr(rng, rng.Int64())}
		}
	}
	rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	return rows
}

// writerOptions vary what the column reader must follow: small pages (rows
// whose map entries span pages), data page version 1, row groups.
func writerOptions(rng *rand.Rand) []parquet.WriterOption {
	opts := []parquet.WriterOption{parquet.Compression(&parquet.Zstd)}
	if rng.IntN(2) == 0 {
		opts = append(opts, parquet.PageBufferSize(64+rng.IntN(512)))
	}
	if rng.IntN(2) == 0 {
		opts = append(opts, parquet.DataPageVersion(1))
	}
	return opts
}

func writeRows[T any](t *testing.T, rng *rand.Rand, rows []T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf, writerOptions(rng)...)
	for len(rows) > 0 { // a few row groups
		n := min(len(rows), 1+rng.IntN(200))
		if _, err := w.Write(rows[:n]); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		rows = rows[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCheckpointReadersAgree is the differential test of the column
// reader against the generic one: the same actions, in the same order, for
// Spark's fixture, for random tables' checkpoints as this package writes
// them, and for random rows of the wide layout other engines write.
func TestCheckpointReadersAgree(t *testing.T) {
	t.Run("spark fixture", func(t *testing.T) {
		data, err := os.ReadFile("testdata/spark_checkpoint.parquet")
		if err != nil {
			t.Fatal(err)
		}
		if acts := mustAgree(t, data); len(acts) != 9 {
			t.Fatalf("%d actions, want the fixture's 9", len(acts))
		}
	})
	t.Run("written by this package", func(t *testing.T) {
		for seed := range uint64(40) {
			rng := rand.New(rand.NewPCG(seed, 1))
			st := randomState(rng)
			rows, _ := checkpointRows(st, 0, rng.IntN(4) > 0)
			data := writeRows(t, rng, rows)
			acts := mustAgree(t, data)
			// And the state read back is the state written.
			got := newState()
			for _, a := range acts {
				if err := got.apply(a); err != nil {
					t.Fatal(err)
				}
			}
			if len(got.files) != len(st.files) || len(got.tombstones) != len(st.tombstones) || !reflect.DeepEqual(got.txns, st.txns) {
				t.Fatalf("seed %d: %d files, %d tombstones, txns %v; wrote %d, %d, %v", seed,
					len(got.files), len(got.tombstones), got.txns, len(st.files), len(st.tombstones), st.txns)
			}
		}
	})
	t.Run("wide layout", func(t *testing.T) {
		for seed := range uint64(40) {
			rng := rand.New(rand.NewPCG(seed, 2))
			rows := randomWideRows(rng)
			mustAgree(t, writeRows(t, rng, rows))
		}
	})
}

// TestColumnReaderListLayouts: metaData.partitionColumns in each list
// layout the Parquet spec allows reads the same through both readers.
func TestColumnReaderListLayouts(t *testing.T) {
	layouts := map[string]struct {
		node    parquet.Node
		elemDef int
	}{
		"list/element":      {threeLevel("list", "element"), 4},
		"list/item":         {threeLevel("list", "item"), 4},
		"bag/array_element": {threeLevel("bag", "array_element"), 4},
		"two-level array":   {twoLevel(), 3},
	}
	for name, l := range layouts {
		t.Run(name, func(t *testing.T) {
			schema := parquet.NewSchema("spark_schema", parquet.Group{
				"metaData": parquet.Optional(parquet.Group{
					"id":               parquet.Optional(parquet.String()),
					"partitionColumns": l.node,
				}),
				"txn": parquet.Optional(parquet.Group{"appId": parquet.Optional(parquet.String())}),
			})
			str := func(s string) parquet.Value { return parquet.ValueOf(s) }
			null := parquet.Value{}
			rows := []parquet.Row{
				{str("x").Level(0, 2, 0), str("date").Level(0, l.elemDef, 1), str("region").Level(1, l.elemDef, 1), null.Level(0, 0, 2)},
				{str("y").Level(0, 2, 0), null.Level(0, 2, 1), null.Level(0, 0, 2)},
				{str("z").Level(0, 2, 0), null.Level(0, 1, 1), null.Level(0, 0, 2)}, // a null list
				{null.Level(0, 0, 0), null.Level(0, 0, 1), str("q").Level(0, 2, 2)},
			}
			var buf bytes.Buffer
			w := parquet.NewWriter(&buf, schema)
			if _, err := w.WriteRows(rows); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			acts := mustAgree(t, buf.Bytes())
			if len(acts) != 4 || !reflect.DeepEqual(acts[0].Metadata.PartitionColumns, []string{"date", "region"}) ||
				acts[1].Metadata.PartitionColumns == nil || len(acts[1].Metadata.PartitionColumns) != 0 ||
				acts[2].Metadata.PartitionColumns != nil || acts[3].Txn.AppID != "q" {
				t.Fatalf("actions %+v", acts)
			}
		})
	}
}

// TestColumnReaderDeclinesOtherShapes: a layout the column reader does not
// expect (an integer stored as a string, a map keyed by integers, a list
// of structs) goes to the generic reader, whose result stands.
func TestColumnReaderDeclinesOtherShapes(t *testing.T) {
	type sizeAsString struct {
		Add *struct {
			Path *string `parquet:"path,optional"`
			Size *string `parquet:"size,optional"`
		} `parquet:"add,optional"`
	}
	type intKeys struct {
		Add *struct {
			Path            *string           `parquet:"path,optional"`
			PartitionValues map[int64]*string `parquet:"partitionValues,optional"`
		} `parquet:"add,optional"`
	}
	type twoPaths struct {
		Add *struct {
			Path1 *string `parquet:"Path,optional"`
			Path2 *string `parquet:"PATH,optional"`
		} `parquet:"add,optional"`
	}
	cases := map[string][]byte{}
	var buf bytes.Buffer
	if err := parquet.Write(&buf, []sizeAsString{{Add: &struct {
		Path *string `parquet:"path,optional"`
		Size *string `parquet:"size,optional"`
	}{Path: ptr("a"), Size: ptr("12")}}}); err != nil {
		t.Fatal(err)
	}
	cases["size as a string"] = bytes.Clone(buf.Bytes())
	buf.Reset()
	if err := parquet.Write(&buf, []intKeys{{Add: &struct {
		Path            *string           `parquet:"path,optional"`
		PartitionValues map[int64]*string `parquet:"partitionValues,optional"`
	}{Path: ptr("a"), PartitionValues: map[int64]*string{7: ptr("x")}}}}); err != nil {
		t.Fatal(err)
	}
	cases["map keyed by integers"] = bytes.Clone(buf.Bytes())
	buf.Reset()
	if err := parquet.Write(&buf, []twoPaths{{Add: &struct {
		Path1 *string `parquet:"Path,optional"`
		Path2 *string `parquet:"PATH,optional"`
	}{Path1: ptr("a"), Path2: ptr("b")}}}); err != nil {
		t.Fatal(err)
	}
	cases["two fields matching path"] = bytes.Clone(buf.Bytes())
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			f := openParquet(t, data)
			if _, err := columnActions(f); !errors.Is(err, errDeclined) {
				t.Fatalf("the column reader took the layout: %v", err)
			}
			var got, want []Action
			gotErr := readCheckpointFile(f, func(a Action) error { got = append(got, a); return nil })
			want, wantErr := genericActions(f)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
				t.Fatalf("read %v (%v), the generic reader %v (%v)", got, gotErr, want, wantErr)
			}
		})
	}
}

// TestColumnReaderRefusesV2Rows: a checkpointMetadata or sidecar row is
// the V2 checkpoint feature, refused by name, by both readers.
func TestColumnReaderRefusesV2Rows(t *testing.T) {
	type sidecar struct {
		Path *string `parquet:"path,optional"`
	}
	type row struct {
		Txn     *ckTxn   `parquet:"txn,optional"`
		Sidecar *sidecar `parquet:"sidecar,optional"`
	}
	var buf bytes.Buffer
	if err := parquet.Write(&buf, []row{{Txn: &ckTxn{AppID: ptr("q"), Version: ptr(int64(1))}}, {Sidecar: &sidecar{Path: ptr("x.parquet")}}}); err != nil {
		t.Fatal(err)
	}
	f := openParquet(t, buf.Bytes())
	_, err := columnActions(f)
	var uf *UnsupportedFeatureError
	if !errors.As(err, &uf) || uf.Feature != "v2Checkpoint" {
		t.Fatalf("column reader: %v, want the v2Checkpoint feature refused", err)
	}
	if err := compareCheckpointReaders(f); err != nil {
		t.Fatal(err)
	}
}
