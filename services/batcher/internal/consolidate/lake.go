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
}

// Run reads every committed window row of store's stream/ table, consolidates
// it per sensor and replaces contract.BatchObject, then writes
// contract.BatchSuccess. With no committed rows it still writes the object
// (the schema and no rows) and _SUCCESS. concurrency <= 0 means
// DefaultConcurrency.
func Run(ctx context.Context, store lake.Store, concurrency int) (Result, error) {
	start := time.Now()
	files, err := lake.CommittedStreamFiles(ctx, store)
	if err != nil {
		return Result{}, fmt.Errorf("list committed window files: %w", err)
	}
	agg, err := Read(ctx, store, files, concurrency)
	if err != nil {
		return Result{}, err
	}
	rows := agg.Rows()
	n, err := Write(ctx, store, rows)
	if err != nil {
		return Result{}, err
	}
	return Result{Rows: rows, Files: len(files), WindowRows: agg.WindowRows(), Bytes: n, Duration: time.Since(start)}, nil
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
	pf, err := parquet.OpenFile(obj, info.Size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadWindowFile, err)
	}
	if err := checkReadColumns(pf.Schema()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadWindowFile, err)
	}
	if f.Rows > 0 && pf.NumRows() != f.Rows {
		return nil, fmt.Errorf("%w: the sink log says %d rows, the file has %d", ErrBadWindowFile, f.Rows, pf.NumRows())
	}

	// A reader typed on Window projects the file onto its five columns:
	// parquet-go then decodes only those column chunks.
	r := parquet.NewGenericReader[Window](pf)
	defer r.Close()
	agg = &Aggregator{}
	buf := make([]Window, 1024)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, rerr := r.Read(buf)
		for _, w := range buf[:n] {
			agg.Add(w)
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("%w: read rows: %w", ErrBadWindowFile, rerr)
		}
	}
	if agg.WindowRows() != pf.NumRows() {
		return nil, fmt.Errorf("%w: read %d rows, the footer says %d", ErrBadWindowFile, agg.WindowRows(), pf.NumRows())
	}
	return agg, nil
}

// checkReadColumns verifies that the columns the formulas read are present,
// required (never null) and of the contract's types. Without it a missing
// column would read as zeros.
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
			if leaf, _ := schema.Lookup(name); !leaf.Node.Required() {
				errs = append(errs, fmt.Errorf("column %q is not required (optional or repeated)", name))
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
