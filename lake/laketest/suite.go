package laketest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sensorlab/sensorlab/lake"
)

// Run checks that a lake.Store keeps the interface's promises. newStore must
// return a new, empty store each time it is called (a fresh directory, a
// fresh bucket or prefix); subtests run one after the other.
func Run(t *testing.T, newStore func(t *testing.T) lake.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s lake.Store)
	}{
		{"PutGetReplace", testPutGetReplace},
		{"EmptyObject", testEmptyObject},
		{"MissingKeyIsErrNotExist", testMissingKey},
		{"ListRecursesSortedByKey", testList},
		{"DeleteIsIdempotent", testDelete},
		{"OpenReadAtAndSize", testOpen},
		{"PutReader", testPutReader},
		{"ShortPutReaderKeepsPreviousObject", testShortPutReader},
		{"ConcurrentReadersNeverSeePartialObjects", testConcurrentReaders},
		{"PutIfAbsentCreatesOnly", testPutIfAbsent},
		{"PutIfAbsentRaceHasOneWinner", testPutIfAbsentRace},
		{"LargeObjectRoundTrip", testLargeObject},
		{"CancelledContext", testCancelledContext},
		{"InvalidKeysAreRejected", testInvalidKeys},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// payload returns n deterministic pseudo-random bytes for a seed.
func payload(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func mustPut(t *testing.T, s lake.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, data); err != nil {
		t.Fatalf("Put(%q) on %s: %v", key, s, err)
	}
}

func mustGet(t *testing.T, s lake.Store, key string) []byte {
	t.Helper()
	got, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q) on %s: %v", key, s, err)
	}
	return got
}

func keysOf(objs []lake.ObjectInfo) []string {
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}
	return keys
}

func testPutGetReplace(t *testing.T, s lake.Store) {
	ctx := t.Context()
	key := "stream/_delta_log/00000000000000000000.json"
	v1 := []byte(`{"version":1}`)
	mustPut(t, s, key, v1)
	if got := mustGet(t, s, key); !bytes.Equal(got, v1) {
		t.Fatalf("Get after Put = %q, want %q", got, v1)
	}
	v2 := []byte(`{"version":1,"files":[]} and longer than before`)
	mustPut(t, s, key, v2)
	if got := mustGet(t, s, key); !bytes.Equal(got, v2) {
		t.Fatalf("Get after replacing Put = %q, want %q", got, v2)
	}
	info, err := s.Stat(ctx, key)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.Key != key || info.Size != int64(len(v2)) || info.ModTime.IsZero() {
		t.Fatalf("Stat = %+v, want key %q, size %d and a modification time", info, key, len(v2))
	}
	objs, err := s.List(ctx, "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(objs) != 1 || objs[0].Key != key || objs[0].Size != int64(len(v2)) {
		t.Fatalf("List after replace = %+v, want the one object of %d bytes", objs, len(v2))
	}
}

func testEmptyObject(t *testing.T, s lake.Store) {
	key := "batch/agg_desde_stream/_SUCCESS"
	mustPut(t, s, key, nil)
	if got := mustGet(t, s, key); len(got) != 0 {
		t.Fatalf("Get of an empty object returned %d bytes", len(got))
	}
	info, err := s.Stat(t.Context(), key)
	if err != nil || info.Size != 0 {
		t.Fatalf("Stat of an empty object = %+v, %v; want size 0", info, err)
	}
}

func testMissingKey(t *testing.T, s lake.Store) {
	ctx := t.Context()
	mustPut(t, s, "stream/date=2024-11-21/a.parquet", []byte("x"))
	// "stream" and "stream/date=2024-11-21" are prefixes of an object, not objects.
	for _, key := range []string{"nope.json", "stream/date=2024-11-21/b.parquet", "stream", "stream/date=2024-11-21"} {
		if _, err := s.Get(ctx, key); !errors.Is(err, lake.ErrNotExist) {
			t.Errorf("Get(%q) error = %v, want ErrNotExist", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, lake.ErrNotExist) {
			t.Errorf("Stat(%q) error = %v, want ErrNotExist", key, err)
		}
		if obj, _, err := s.Open(ctx, key); !errors.Is(err, lake.ErrNotExist) {
			if obj != nil {
				_ = obj.Close()
			}
			t.Errorf("Open(%q) error = %v, want ErrNotExist", key, err)
		}
	}
}

func testList(t *testing.T, s lake.Store) {
	ctx := t.Context()
	keys := []string{
		"stream/date=2024-11-22/part-0000000001-000-q.parquet",
		"stream/date=2024-11-21/part-0000000000-000-q.parquet",
		"stream/date=2024-11-21/part-0000000000-001-q.parquet",
		"stream/_delta_log/00000000000000000001.json",
		"stream/_delta_log/00000000000000000000.json",
		"stream-other/z",
		"streamx",
		"batch/agg_desde_stream/_SUCCESS",
		"batch/agg_desde_stream/part-00000.parquet",
		// "-" sorts before "/": a plain directory walk would list a/b first.
		"a-c",
		"a/b",
		"a/b.c",
	}
	for i, k := range keys {
		mustPut(t, s, k, payload(uint64(i), i+1))
	}
	sizes := map[string]int64{}
	for i, k := range keys {
		sizes[k] = int64(i + 1)
	}
	sorted := slices.Sorted(slices.Values(keys))
	cases := []struct {
		prefix string
		want   []string
	}{
		{"", sorted},
		{"stream/", []string{
			"stream/_delta_log/00000000000000000000.json",
			"stream/_delta_log/00000000000000000001.json",
			"stream/date=2024-11-21/part-0000000000-000-q.parquet",
			"stream/date=2024-11-21/part-0000000000-001-q.parquet",
			"stream/date=2024-11-22/part-0000000001-000-q.parquet",
		}},
		{"stream", []string{
			"stream-other/z",
			"stream/_delta_log/00000000000000000000.json",
			"stream/_delta_log/00000000000000000001.json",
			"stream/date=2024-11-21/part-0000000000-000-q.parquet",
			"stream/date=2024-11-21/part-0000000000-001-q.parquet",
			"stream/date=2024-11-22/part-0000000001-000-q.parquet",
			"streamx",
		}},
		{"stream/date=", []string{
			"stream/date=2024-11-21/part-0000000000-000-q.parquet",
			"stream/date=2024-11-21/part-0000000000-001-q.parquet",
			"stream/date=2024-11-22/part-0000000001-000-q.parquet",
		}},
		{"stream/date=2024-11-21/part-0000000000-001", []string{"stream/date=2024-11-21/part-0000000000-001-q.parquet"}},
		{"stream/_delta_log/", []string{
			"stream/_delta_log/00000000000000000000.json",
			"stream/_delta_log/00000000000000000001.json",
		}},
		{"batch/agg_desde_stream/_", []string{"batch/agg_desde_stream/_SUCCESS"}},
		{"a", []string{"a-c", "a/b", "a/b.c"}},
		{"a/", []string{"a/b", "a/b.c"}},
		{"nothing/", nil},
		{"stream/date=2024-11-23/", nil},
	}
	for _, tc := range cases {
		objs, err := s.List(ctx, tc.prefix)
		if err != nil {
			t.Errorf("List(%q): %v", tc.prefix, err)
			continue
		}
		if got := keysOf(objs); !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) =\n  %q\nwant\n  %q", tc.prefix, got, tc.want)
		}
		for _, o := range objs {
			if o.Size != sizes[o.Key] {
				t.Errorf("List(%q): %s has size %d, want %d", tc.prefix, o.Key, o.Size, sizes[o.Key])
			}
			if o.ModTime.IsZero() {
				t.Errorf("List(%q): %s has no modification time", tc.prefix, o.Key)
			}
		}
	}
}

func testDelete(t *testing.T, s lake.Store) {
	ctx := t.Context()
	gone, kept := "stream/date=2024-11-21/a.parquet", "stream/date=2024-11-21/b.parquet"
	mustPut(t, s, gone, []byte("a"))
	mustPut(t, s, kept, []byte("b"))
	for i := range 2 { // the second Delete finds nothing: still not an error
		if err := s.Delete(ctx, gone); err != nil {
			t.Fatalf("Delete #%d of %q: %v", i+1, gone, err)
		}
	}
	if err := s.Delete(ctx, "never/existed.json"); err != nil {
		t.Fatalf("Delete of a key that never existed: %v", err)
	}
	if _, err := s.Get(ctx, gone); !errors.Is(err, lake.ErrNotExist) {
		t.Fatalf("Get after Delete: %v, want ErrNotExist", err)
	}
	objs, err := s.List(ctx, "stream/")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if got := keysOf(objs); !slices.Equal(got, []string{kept}) {
		t.Fatalf("List after Delete = %q, want only %q", got, kept)
	}
	if got := mustGet(t, s, kept); string(got) != "b" {
		t.Fatalf("Delete disturbed its neighbour: %q", got)
	}
	// Deleting the last object of a "directory" and writing there again works.
	if err := s.Delete(ctx, kept); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, kept, []byte("again"))
	if got := mustGet(t, s, kept); string(got) != "again" {
		t.Fatalf("Put after emptying its directory: got %q", got)
	}
}

func testOpen(t *testing.T, s lake.Store) {
	data := payload(7, 100_000)
	key := "stream/date=2024-11-21/part.parquet"
	mustPut(t, s, key, data)
	obj, info, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer obj.Close()
	if info.Key != key || info.Size != int64(len(data)) {
		t.Fatalf("Open info = %+v, want key %q size %d", info, key, len(data))
	}
	// Parquet readers read the footer first, then column chunks anywhere.
	for _, r := range []struct{ off, n int }{{len(data) - 8, 8}, {0, 4}, {50_000, 1234}, {99_999, 1}} {
		buf := make([]byte, r.n)
		if n, err := obj.ReadAt(buf, int64(r.off)); err != nil && !(errors.Is(err, io.EOF) && n == r.n) {
			t.Fatalf("ReadAt(%d, %d) = %d, %v", r.off, r.n, n, err)
		}
		if !bytes.Equal(buf, data[r.off:r.off+r.n]) {
			t.Fatalf("ReadAt(%d, %d) returned the wrong bytes", r.off, r.n)
		}
	}
	// Reading past the end reports io.EOF with the bytes that exist.
	buf := make([]byte, 10)
	if n, err := obj.ReadAt(buf, int64(len(data)-4)); n != 4 || !errors.Is(err, io.EOF) {
		t.Fatalf("ReadAt across the end = %d, %v; want 4, io.EOF", n, err)
	}
	if _, err := obj.Seek(-10, io.SeekEnd); err != nil {
		t.Fatalf("Seek: %v", err)
	}
	tail, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(tail, data[len(data)-10:]) {
		t.Fatalf("Seek(-10, end)+ReadAll = %d bytes, %v; want the last 10 bytes", len(tail), err)
	}
}

func testPutReader(t *testing.T, s lake.Store) {
	data := payload(3, 300_000)
	key := "batch/agg_desde_stream/part-00000.parquet"
	if err := s.PutReader(t.Context(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("PutReader: %v", err)
	}
	if got := mustGet(t, s, key); !bytes.Equal(got, data) {
		t.Fatalf("Get after PutReader: %d bytes, want the %d written", len(got), len(data))
	}
}

func testShortPutReader(t *testing.T, s lake.Store) {
	key := "stream/_delta_log/00000000000000000003.json"
	old := []byte(`{"old":true}`)
	mustPut(t, s, key, old)
	short := payload(4, 1000)
	readers := map[string]io.Reader{
		"seekable":     bytes.NewReader(short),
		"not seekable": struct{ io.Reader }{bytes.NewReader(short)},
	}
	for name, r := range readers {
		if err := s.PutReader(t.Context(), key, r, 5000); err == nil {
			t.Fatalf("PutReader with a %s reader shorter than its size succeeded", name)
		}
		if got := mustGet(t, s, key); !bytes.Equal(got, old) {
			t.Fatalf("a failed PutReader (%s reader) changed the object: got %d bytes, want the previous %q", name, len(got), old)
		}
	}
	objs, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(objs); !slices.Equal(got, []string{key}) {
		t.Fatalf("a failed PutReader left objects behind: %q", got)
	}
}

// testConcurrentReaders replaces one object again and again while readers
// fetch it: every read must return one whole version. Each version is a
// different size and filled with one byte value, so a torn or truncated
// read is visible.
func testConcurrentReaders(t *testing.T, s lake.Store) {
	const (
		key      = "stream/date=2024-11-21/hot.parquet"
		versions = 24
		readers  = 4
		baseSize = 256 << 10
	)
	version := func(v int) []byte { return bytes.Repeat([]byte{byte(v)}, baseSize+v*1024) }
	mustPut(t, s, key, version(1))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var (
		wg    sync.WaitGroup
		reads atomic.Int64
		errMu sync.Mutex
		errs  []error
	)
	fail := func(err error) {
		errMu.Lock()
		errs = append(errs, err)
		errMu.Unlock()
		cancel()
	}
	for range readers {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil || n == 0; n++ {
				got, err := s.Get(t.Context(), key)
				if err != nil {
					fail(fmt.Errorf("Get during Puts: %w", err))
					return
				}
				reads.Add(1)
				if len(got) == 0 {
					fail(errors.New("Get during Puts returned an empty object"))
					return
				}
				v := int(got[0])
				if v < 1 || v > versions || !bytes.Equal(got, version(v)) {
					fail(fmt.Errorf("Get during Puts returned a torn object: %d bytes starting with %d, want %d bytes of %d",
						len(got), v, len(version(v)), v))
					return
				}
			}
		})
	}
	for v := 2; v <= versions && ctx.Err() == nil; v++ {
		if err := s.Put(t.Context(), key, version(v)); err != nil {
			fail(fmt.Errorf("Put version %d: %w", v, err))
		}
	}
	cancel()
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, key); !bytes.Equal(got, version(versions)) {
		t.Fatalf("after the last Put, Get returned version %d, want %d", got[0], versions)
	}
	t.Logf("%d whole reads during %d replacing Puts", reads.Load(), versions-1)
}

// testPutIfAbsent checks that PutIfAbsent creates a missing object and
// refuses, with ErrExist and without a change, a key that holds one, whoever
// wrote it.
func testPutIfAbsent(t *testing.T, s lake.Store) {
	ctx := t.Context()
	key := "stream/_delta_log/00000000000000000000.json"
	first := []byte(`{"commitInfo":{"operation":"WRITE"}}` + "\n")
	if err := s.PutIfAbsent(ctx, key, first); err != nil {
		t.Fatalf("PutIfAbsent of a new key: %v", err)
	}
	if got := mustGet(t, s, key); !bytes.Equal(got, first) {
		t.Fatalf("Get after PutIfAbsent = %q, want %q", got, first)
	}
	second := []byte(`{"commitInfo":{"operation":"OVERWRITE"}} and longer`)
	if err := s.PutIfAbsent(ctx, key, second); !errors.Is(err, lake.ErrExist) {
		t.Fatalf("PutIfAbsent of an existing key: error %v, want one matching ErrExist", err)
	}
	if got := mustGet(t, s, key); !bytes.Equal(got, first) {
		t.Fatalf("a refused PutIfAbsent changed the object to %q, want %q", got, first)
	}
	// An object written by Put is just as present.
	other := "stream/_delta_log/_last_checkpoint"
	mustPut(t, s, other, []byte(`{"version":10}`))
	if err := s.PutIfAbsent(ctx, other, []byte("x")); !errors.Is(err, lake.ErrExist) {
		t.Fatalf("PutIfAbsent over an object Put wrote: error %v, want ErrExist", err)
	}
	if got := mustGet(t, s, other); string(got) != `{"version":10}` {
		t.Fatalf("a refused PutIfAbsent changed Put's object to %q", got)
	}
	// Once deleted, the key can be created again, empty this time.
	if err := s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := s.PutIfAbsent(ctx, key, nil); err != nil {
		t.Fatalf("PutIfAbsent after Delete: %v", err)
	}
	if got := mustGet(t, s, key); len(got) != 0 {
		t.Fatalf("PutIfAbsent of an empty object: Get returned %d bytes", len(got))
	}
	objs, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(objs); !slices.Equal(got, []string{key, other}) {
		t.Fatalf("after PutIfAbsent calls the store lists %q, want %q", got, []string{key, other})
	}
}

// testPutIfAbsentRace starts writers together on one key, for several keys:
// exactly one must succeed, every other one must get ErrExist, and the object
// must hold the winner's bytes, whole (each writer's payload differs in size
// and content).
func testPutIfAbsentRace(t *testing.T, s lake.Store) {
	const (
		writers = 8
		rounds  = 6
	)
	ctx := t.Context()
	for round := range rounds {
		key := fmt.Sprintf("stream/_delta_log/%020d.json", round)
		payloads := make([][]byte, writers)
		for w := range payloads {
			payloads[w] = payload(uint64(round*writers+w), 1000+w*517)
		}
		errs := make([]error, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				<-start
				errs[w] = s.PutIfAbsent(ctx, key, payloads[w])
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for w, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: writers %d and %d both created %s", round, winner, w, key)
				}
				winner = w
			case !errors.Is(err, lake.ErrExist):
				t.Fatalf("round %d: writer %d lost with %v, want an error matching ErrExist", round, w, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer created %s", round, key)
		}
		if got := mustGet(t, s, key); !bytes.Equal(got, payloads[winner]) {
			t.Fatalf("round %d: %s holds %d bytes, not the %d bytes of writer %d, the one that succeeded",
				round, key, len(got), len(payloads[winner]), winner)
		}
	}
	objs, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != rounds {
		t.Fatalf("after %d races the store lists %q, want %d objects and nothing else", rounds, keysOf(objs), rounds)
	}
}

func testLargeObject(t *testing.T, s lake.Store) {
	const size = 8 << 20
	data := payload(8, size)
	key := "stream/date=2024-11-21/large.parquet"
	mustPut(t, s, key, data)
	if got := mustGet(t, s, key); !bytes.Equal(got, data) {
		t.Fatalf("8 MiB round trip: got %d bytes, content equal: false", len(got))
	}
	obj, info, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer obj.Close()
	if info.Size != size {
		t.Fatalf("Open size = %d, want %d", info.Size, size)
	}
	buf := make([]byte, 1<<20)
	if _, err := obj.ReadAt(buf, size-1<<20); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("ReadAt the last MiB: %v", err)
	}
	if !bytes.Equal(buf, data[size-1<<20:]) {
		t.Fatal("ReadAt the last MiB returned the wrong bytes")
	}
}

func testCancelledContext(t *testing.T, s lake.Store) {
	mustPut(t, s, "present.json", []byte("{}"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: error %v, want one matching context.Canceled", op, err)
		}
	}
	check("Put", s.Put(ctx, "new.json", []byte("{}")))
	check("PutReader", s.PutReader(ctx, "new2.json", strings.NewReader("{}"), 2))
	check("PutIfAbsent", s.PutIfAbsent(ctx, "new3.json", []byte("{}")))
	_, err := s.Get(ctx, "present.json")
	check("Get", err)
	obj, _, err := s.Open(ctx, "present.json")
	if obj != nil {
		_ = obj.Close()
	}
	check("Open", err)
	_, err = s.Stat(ctx, "present.json")
	check("Stat", err)
	_, err = s.List(ctx, "")
	check("List", err)
	check("Delete", s.Delete(ctx, "present.json"))
	check("Ping", s.Ping(ctx))

	// Nothing a cancelled call was asked to do happened.
	objs, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(objs); !slices.Equal(got, []string{"present.json"}) {
		t.Fatalf("after cancelled calls the store holds %q, want only present.json", got)
	}
}

func testInvalidKeys(t *testing.T, s lake.Store) {
	ctx := t.Context()
	for _, key := range []string{"", "/abs.json", "dir/", "a//b", "../escape.json", "a/../../escape.json", "./x"} {
		if err := s.Put(ctx, key, []byte("x")); !errors.Is(err, lake.ErrInvalidKey) {
			t.Errorf("Put(%q) error = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Get(ctx, key); !errors.Is(err, lake.ErrInvalidKey) {
			t.Errorf("Get(%q) error = %v, want ErrInvalidKey", key, err)
		}
		if err := s.PutIfAbsent(ctx, key, []byte("x")); !errors.Is(err, lake.ErrInvalidKey) {
			t.Errorf("PutIfAbsent(%q) error = %v, want ErrInvalidKey", key, err)
		}
	}
	for _, prefix := range []string{"/abs", "../", "a/../../"} {
		if _, err := s.List(ctx, prefix); !errors.Is(err, lake.ErrInvalidKey) {
			t.Errorf("List(%q) error = %v, want ErrInvalidKey", prefix, err)
		}
	}
	objs, err := s.List(ctx, "")
	if err != nil || len(objs) != 0 {
		t.Fatalf("after rejected Puts the store holds %v (%v), want nothing", keysOf(objs), err)
	}
}

func testPing(t *testing.T, s lake.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping of a usable store %s: %v", s, err)
	}
	if str := s.String(); str == "" {
		t.Fatal("String() is empty: logs could not say which store this is")
	}
}
