package delta_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
)

// benchQuery is the streaming query of the benchmark tables.
const benchQuery = "6b1f0c8e-0000-4000-8000-00000000beef"

// streamTable writes the stream table as the streamer's sink leaves it after
// n micro-batches (as tools/bench's lakegen does): one small zstd Parquet
// file of window rows per batch in one date partition, one commit each (its
// add with stats from the footer and its txn), a checkpoint every 10
// commits.
//
// The table is built in memory (a file store fsyncs every object, which
// would make building it take minutes) and copied to disk with dump.
func streamTable(b *testing.B, n int) (*memStore, *delta.Table) {
	b.Helper()
	ctx := b.Context()
	s := newMemStore()
	tbl := delta.NewTable(s, "stream")
	schema, err := delta.SchemaFromParquet(parquet.SchemaOf(contract.WindowRow{}))
	if err != nil {
		b.Fatal(err)
	}
	schema.Fields = append(schema.Fields, delta.StructField{Name: "date", Type: delta.Date, Nullable: true})
	md, err := tbl.NewMetadata(schema, []string{"date"}, map[string]string{delta.PropCheckpointInterval: "10"})
	if err != nil {
		b.Fatal(err)
	}
	const date = "2024-11-21"
	var snap *delta.Snapshot
	var buf bytes.Buffer
	for batch := range n {
		buf.Reset()
		w := parquet.NewGenericWriter[contract.WindowRow](&buf, parquet.Compression(&parquet.Zstd))
		if _, err := w.Write(windowRows(date, 20*batch, 20)); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		key := contract.StreamFileKey(date, benchQuery, int64(batch), 0)
		add, err := delta.NewAdd(md, strings.TrimPrefix(key, "stream/"), delta.PartitionValues{"date": date}, buf.Bytes(), time.Now(), true)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Put(ctx, key, buf.Bytes()); err != nil {
			b.Fatal(err)
		}
		actions := []delta.Action{{Add: &add}, {Txn: &delta.Txn{AppID: benchQuery, Version: int64(batch)}}}
		if snap == nil {
			actions = append([]delta.Action{{Metadata: &md}}, actions...)
		}
		if _, err := tbl.Commit(ctx, snap, delta.Commit{Operation: delta.StreamingUpdate("Append", benchQuery, int64(batch)), Actions: actions}); err != nil {
			b.Fatal(err)
		}
		if snap == nil {
			snap, err = tbl.Snapshot(ctx)
		} else {
			snap, err = snap.Update(ctx)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	return s, tbl
}

// BenchmarkSnapshot reads the latest snapshot of the stream table cold (a
// new Table, nothing cached), as a batcher process does at start: after
// 3000 micro-batches (a checkpoint of 2990 adds with stats, then 9
// commits), and after OPTIMIZE has packed them into one file (a checkpoint
// of one add and 3000 tombstones).
func BenchmarkSnapshot(b *testing.B) {
	const files = 3000
	delta.CheckpointCrossCheck(false)
	defer delta.CheckpointCrossCheck(true)
	benchTables.once.Do(func() {
		mem, tbl := streamTable(b, files)
		benchTables.small = mem.clone()
		res, err := tbl.Optimize(b.Context(), delta.OptimizeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if res.Version != files || res.PostCommitErr != nil {
			b.Fatalf("optimize: version %d (%v), want %d with its checkpoint", res.Version, res.PostCommitErr, files)
		}
		benchTables.optimized = mem
	})
	if benchTables.optimized == nil {
		b.Fatal("building the tables failed")
	}
	bench := func(b *testing.B, mem *memStore, wantFiles, wantTombstones int) {
		s := mem.dump(b)
		b.ReportAllocs()
		var snap *delta.Snapshot
		for b.Loop() {
			var err error
			if snap, err = delta.NewTable(s, "stream").Snapshot(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
		if snap.NumFiles() != wantFiles || len(snap.Tombstones()) != wantTombstones {
			b.Fatalf("%d files, %d tombstones; want %d and %d", snap.NumFiles(), len(snap.Tombstones()), wantFiles, wantTombstones)
		}
	}
	b.Run("files=3000", func(b *testing.B) { bench(b, benchTables.small, files, 0) })
	b.Run("optimized", func(b *testing.B) { bench(b, benchTables.optimized, 1, files) })
}

// benchTables are BenchmarkSnapshot's tables, built once per process.
var benchTables struct {
	once             sync.Once
	small, optimized *memStore
}

// memStore is a lake.Store in memory, for building benchmark tables fast.
type memStore struct {
	mu   sync.Mutex
	objs map[string]memObject
}

type memObject struct {
	data []byte
	mod  time.Time
}

func newMemStore() *memStore { return &memStore{objs: map[string]memObject{}} }

func (m *memStore) clone() *memStore {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &memStore{objs: maps.Clone(m.objs)}
}

func (m *memStore) String() string { return "mem://" }

func (m *memStore) Put(_ context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[key] = memObject{bytes.Clone(data), time.Now()}
	return nil
}

func (m *memStore) PutIfAbsent(_ context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[key]; ok {
		return fmt.Errorf("put-if-absent %s: %w", key, lake.ErrExist)
	}
	m.objs[key] = memObject{bytes.Clone(data), time.Now()}
	return nil
}

func (m *memStore) PutReader(ctx context.Context, key string, r io.Reader, _ int64) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return m.Put(ctx, key, data)
}

func (m *memStore) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[key]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, lake.ErrNotExist)
	}
	return o.data, nil
}

type memReader struct{ *bytes.Reader }

func (memReader) Close() error { return nil }

func (m *memStore) Open(ctx context.Context, key string) (lake.Object, lake.ObjectInfo, error) {
	info, err := m.Stat(ctx, key)
	if err != nil {
		return nil, info, err
	}
	data, _ := m.Get(ctx, key)
	return memReader{bytes.NewReader(data)}, info, nil
}

func (m *memStore) Stat(_ context.Context, key string) (lake.ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[key]
	if !ok {
		return lake.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, lake.ErrNotExist)
	}
	return lake.ObjectInfo{Key: key, Size: int64(len(o.data)), ModTime: o.mod}, nil
}

func (m *memStore) List(_ context.Context, prefix string) ([]lake.ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []lake.ObjectInfo
	for k, o := range m.objs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, lake.ObjectInfo{Key: k, Size: int64(len(o.data)), ModTime: o.mod})
		}
	}
	slices.SortFunc(out, func(a, b lake.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func (m *memStore) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, key)
	return nil
}

func (m *memStore) Ping(context.Context) error { return nil }

// dump copies the store's objects, with their modification times, into a
// fresh directory and returns a file store on it.
func (m *memStore) dump(b *testing.B) lake.Store {
	b.Helper()
	dir := b.TempDir()
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, o := range m.objs {
		p := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, o.data, 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Chtimes(p, o.mod, o.mod); err != nil {
			b.Fatal(err)
		}
	}
	s, err := lake.Open(b.Context(), "file://"+dir, lake.S3Config{})
	if err != nil {
		b.Fatal(err)
	}
	return s
}
