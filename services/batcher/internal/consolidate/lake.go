package consolidate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/sync/errgroup"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
)

// DefaultConcurrency is how many window files Read opens at once by default.
const DefaultConcurrency = 8

// Result is what one consolidation run read and wrote.
type Result struct {
	Rows       []contract.BatchRow // the rows written, sorted by sensor_id
	Files      int                 // committed window files read
	WindowRows int64               // window rows folded in
	Bytes      int64               // size of the object written
	Duration   time.Duration
	// The sink log as read: the checkpoint used ("" if none), the entries
	// read besides it, and why the latest checkpoint was not used, if it
	// was not (the whole log was read: exact, but slow).
	LogCheckpoint    string
	LogEntriesRead   int
	LogCheckpointErr error
}

// Run reads every committed window row of store's stream/ table, consolidates
// it per sensor and replaces contract.BatchObject, then writes
// contract.BatchSuccess. With no committed rows it still writes the object
// (the schema and no rows) and _SUCCESS. concurrency <= 0 means
// DefaultConcurrency.
func Run(ctx context.Context, store lake.Store, concurrency int) (Result, error) {
	start := time.Now()
	sl, err := lake.LoadSinkLog(ctx, store)
	if err != nil {
		return Result{}, fmt.Errorf("list committed window files: %w", err)
	}
	files := sl.Committed()
	agg, err := Read(ctx, store, files, concurrency)
	if err != nil {
		return Result{}, err
	}
	rows := agg.Rows()
	n, err := Write(ctx, store, rows)
	if err != nil {
		return Result{}, err
	}
	return Result{Rows: rows, Files: len(files), WindowRows: agg.WindowRows(), Bytes: n, Duration: time.Since(start),
		LogCheckpoint: sl.CheckpointKey, LogEntriesRead: len(sl.Entries), LogCheckpointErr: sl.CheckpointErr}, nil
}

// Read folds the window rows of files into an Aggregator. Files are read
// concurrently (at most concurrency at once) and their partial aggregates
// merged in the order of files, so the result is deterministic.
//
// Every file must exist and be a readable window file with the contract's
// column types; when the sink log recorded its row count or size, they must
// match. Anything else is an error naming the file: a committed file is never
// silently skipped.
func Read(ctx context.Context, store lake.Store, files []contract.SinkFile, concurrency int) (*Aggregator, error) {
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	partials := make([]*Aggregator, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i, f := range files {
		g.Go(func() error {
			a, err := readFile(gctx, store, f)
			if err != nil {
				return fmt.Errorf("committed window file %s: %w", f.Path, err)
			}
			partials[i] = a
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	total := &Aggregator{}
	for _, p := range partials {
		total.Merge(p)
	}
	return total, nil
}

// ErrBadWindowFile marks a committed file that is not what the sink log or
// the contract says it is.
var ErrBadWindowFile = errors.New("bad window file")

// readBufferSize is parquet-go's read size: the tail read on open, and the
// buffer of each column chunk reader (pooled by parquet-go).
const readBufferSize = 256 << 10

// smallObjectMax is the largest object read whole in one ReadAt (a variable
// so that tests cover both paths).
var smallObjectMax int64 = readBufferSize

// readColumns are the window-row columns the formulas need, nothing else is read.
var readColumns = []string{"sensor_id", "eventos", "avg_temp", "avg_hum", "ok_count"}

func readFile(ctx context.Context, store lake.Store, f contract.SinkFile) (agg *Aggregator, err error) {
	obj, info, err := store.Open(ctx, f.Path)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	defer obj.Close()
	if f.Size > 0 && info.Size != f.Size {
		return nil, fmt.Errorf("%w: the sink log says %d bytes, the object has %d", ErrBadWindowFile, f.Size, info.Size)
	}
	// parquet-go panics on some malformed inputs instead of returning an
	// error; a corrupt object in the lake must be an error of this run, not
	// a crash of the service.
	defer func() {
		if r := recover(); r != nil {
			agg, err = nil, fmt.Errorf("%w: parquet decoder failed: %v", ErrBadWindowFile, r)
		}
	}()
	// A window file is small (a few KiB: one batch's closed windows). On S3
	// every ReadAt is a ranged GET, and parquet-go issues one per footer and
	// column chunk; reading a small object whole in one ReadAt is about 3x
	// faster on MinIO (see the README's figures). Larger files (a
	// compaction's) are read in place: the footer and only the needed column
	// chunks, optimistic reads fetching the tail in one request.
	var ra io.ReaderAt = obj
	if info.Size <= smallObjectMax {
		data := make([]byte, info.Size)
		if n, err := obj.ReadAt(data, 0); n != len(data) {
			return nil, fmt.Errorf("read %d of %d bytes: %w", n, len(data), err)
		}
		ra = bytes.NewReader(data)
	}
	pf, err := parquet.OpenFile(ra, info.Size,
		parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true),
		parquet.OptimisticRead(true), parquet.ReadBufferSize(readBufferSize))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadWindowFile, err)
	}
	if err := checkReadColumns(pf.Schema()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadWindowFile, err)
	}
	if f.Rows > 0 && pf.NumRows() != f.Rows {
		return nil, fmt.Errorf("%w: the sink log says %d rows, the file has %d", ErrBadWindowFile, f.Rows, pf.NumRows())
	}

	agg = &Aggregator{}
	var cr columnReader
	for _, rg := range pf.RowGroups() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := cr.readRowGroup(rg, agg); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadWindowFile, err)
		}
	}
	if agg.WindowRows() != pf.NumRows() {
		return nil, fmt.Errorf("%w: read %d rows, the footer says %d", ErrBadWindowFile, agg.WindowRows(), pf.NumRows())
	}
	return agg, nil
}

// columnReader decodes the five columns the formulas need straight from
// their column chunks, value by value, without assembling rows: the other
// columns of the file are never read or decompressed. It handles every
// encoding parquet-go does (plain, dictionary, delta) through ReadValues.
type columnReader struct {
	buf      []parquet.Value
	sensor   []int32 // per row: index into ids
	eventos  []int64
	okCount  []int64
	avgTemp  []float64
	avgHum   []float64
	ids      []string
	idByName map[string]int32
}

func (c *columnReader) readRowGroup(rg parquet.RowGroup, agg *Aggregator) error {
	n := int(rg.NumRows())
	if c.buf == nil {
		c.buf = make([]parquet.Value, 512)
		c.idByName = make(map[string]int32)
	}
	c.sensor = resize(c.sensor, n)
	c.eventos = resize(c.eventos, n)
	c.okCount = resize(c.okCount, n)
	c.avgTemp = resize(c.avgTemp, n)
	c.avgHum = resize(c.avgHum, n)
	chunks := rg.ColumnChunks()
	schema := rg.Schema()
	for _, name := range readColumns {
		leaf, _ := schema.Lookup(name)
		var set func(i int, v parquet.Value)
		switch name {
		case "sensor_id":
			set = func(i int, v parquet.Value) {
				b := v.ByteArray()
				id, ok := c.idByName[string(b)] // no allocation for the lookup
				if !ok {
					id = int32(len(c.ids))
					c.ids = append(c.ids, string(b))
					c.idByName[c.ids[id]] = id
				}
				c.sensor[i] = id
			}
		case "eventos":
			set = func(i int, v parquet.Value) { c.eventos[i] = v.Int64() }
		case "ok_count":
			set = func(i int, v parquet.Value) { c.okCount[i] = v.Int64() }
		case "avg_temp":
			set = func(i int, v parquet.Value) { c.avgTemp[i] = v.Double() }
		case "avg_hum":
			set = func(i int, v parquet.Value) { c.avgHum[i] = v.Double() }
		}
		if err := c.readColumn(chunks[leaf.ColumnIndex], n, set); err != nil {
			return fmt.Errorf("column %q: %w", name, err)
		}
	}
	for i := range n {
		agg.Add(Window{SensorID: c.ids[c.sensor[i]], Eventos: c.eventos[i], AvgTemp: c.avgTemp[i], AvgHum: c.avgHum[i], OKCount: c.okCount[i]})
	}
	return nil
}

// readColumn calls set for each of the n values of a required column chunk.
func (c *columnReader) readColumn(cc parquet.ColumnChunk, n int, set func(int, parquet.Value)) (err error) {
	pages := cc.Pages()
	defer func() { err = errors.Join(err, pages.Close()) }()
	i := 0
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read page: %w", err)
		}
		err = c.readPage(p, &i, n, set)
		parquet.Release(p)
		if err != nil {
			return err
		}
	}
	if i != n {
		return fmt.Errorf("%d values for %d rows", i, n)
	}
	return nil
}

func (c *columnReader) readPage(p parquet.Page, i *int, n int, set func(int, parquet.Value)) error {
	values := p.Values()
	for {
		k, err := values.ReadValues(c.buf)
		if *i+k > n {
			return fmt.Errorf("more values than the row group's %d rows", n)
		}
		for _, v := range c.buf[:k] {
			if v.IsNull() {
				return fmt.Errorf("null value at row %d", *i)
			}
			set(*i, v)
			*i++
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read values: %w", err)
		}
	}
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// checkReadColumns verifies that the columns the formulas read are present,
// not repeated, and of the contract's types. Optional columns (as Spark or
// DuckDB write them) are accepted; a null value in one is an error when read.
func checkReadColumns(schema *parquet.Schema) error {
	want := make(map[string]contract.Column, len(contract.WindowColumns))
	for _, c := range contract.WindowColumns {
		want[c.Name] = c
	}
	got := make(map[string]contract.Column)
	for _, c := range contract.Columns(schema) {
		got[c.Name] = c
	}
	var errs []error
	for _, name := range readColumns {
		c, ok := got[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("column %q is missing", name))
		case c != want[name]:
			errs = append(errs, fmt.Errorf("column %q is %s %s, want %s %s", name, c.Physical, c.Logical, want[name].Physical, want[name].Logical))
		default:
			if leaf, _ := schema.Lookup(name); leaf.MaxRepetitionLevel > 0 {
				errs = append(errs, fmt.Errorf("column %q is repeated", name))
			}
		}
	}
	return errors.Join(errs...)
}

// Encode returns rows as the consolidated Parquet object: contract.BatchRow's
// schema, zstd-compressed, one row group.
func Encode(rows []contract.BatchRow) ([]byte, error) {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[contract.BatchRow](&buf, parquet.Compression(&parquet.Zstd))
	if _, err := w.Write(rows); err != nil {
		return nil, fmt.Errorf("encode consolidated rows: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode consolidated rows: %w", err)
	}
	return buf.Bytes(), nil
}

// Write replaces contract.BatchObject with rows (Store.Put is atomic: readers
// see the previous object or the new one, never a mix), then writes the empty
// contract.BatchSuccess marker, as Spark does. It returns the object's size.
func Write(ctx context.Context, store lake.Store, rows []contract.BatchRow) (int64, error) {
	data, err := Encode(rows)
	if err != nil {
		return 0, err
	}
	if err := store.Put(ctx, contract.BatchObject, data); err != nil {
		return 0, fmt.Errorf("write %s: %w", contract.BatchObject, err)
	}
	if err := store.Put(ctx, contract.BatchSuccess, nil); err != nil {
		return 0, fmt.Errorf("write %s: %w", contract.BatchSuccess, err)
	}
	return int64(len(data)), nil
}
