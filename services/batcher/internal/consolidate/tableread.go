package consolidate

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"golang.org/x/sync/errgroup"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/query/lakeio"
	"github.com/sensorlab/sensorlab/query/types"
)

// DefaultConcurrency is how many data files ReadTable opens at once by
// default.
const DefaultConcurrency = 8

// File is one data file of the source table to read: where it is and what
// the Delta log says of it.
type File struct {
	// Path is the file's path as the log records it (relative to the
	// table, URL-encoded): what errors name.
	Path string
	// Key is the object's key in the store.
	Key string
	// Size is the size the log records; 0 when unknown.
	Size int64
	// Rows is the row count the add's stats record; -1 when unknown.
	Rows int64
}

// ErrBadWindowFile marks a data file that is not what the Delta log or the
// query says it is.
var ErrBadWindowFile = fmt.Errorf("bad window file")

// smallObjectMax is the largest object read whole in one ReadAt (a variable
// so that tests cover both paths). On S3 every ReadAt is a ranged GET, and
// a Parquet reader issues one per footer and column chunk: reading a small
// object (a streamer's window file is a few KiB) whole is about 3x faster
// on MinIO. Larger files (one OPTIMIZE wrote) are read in place: the
// footer and only the needed column chunks.
var smallObjectMax int64 = 256 << 10

// ReadTable reads the columns job reads (Job.Read) of files into one batch
// of the job's source schema, the files' rows in the order of files, each
// row's Partition the index of its file: the engine folds each file's rows
// in order into a partial aggregate and merges the partials in file order.
// Files are read concurrently (at most concurrency at once).
//
// Every file must exist and hold the columns with types that read as the
// declared ones; when the log recorded its size or row count, they must
// match. Anything else is an error naming the file: a live file is never
// silently skipped. A missing object matches lake.ErrNotExist.
func ReadTable(ctx context.Context, store lake.Store, job *Job, files []File, concurrency int) (*types.Batch, error) {
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	parts := make([]*types.Batch, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i, f := range files {
		g.Go(func() error {
			b, err := readFile(gctx, store, f, job.Read)
			if err != nil {
				return fmt.Errorf("data file %s (%s): %w", f.Path, f.Key, err)
			}
			parts[i] = b
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	n := 0
	for _, p := range parts {
		n += p.N
	}
	cols := make([]*types.Vector, len(job.Read))
	for c, f := range job.Read {
		cols[c] = types.NewVector(f.Type, n)
	}
	part := make([]int32, 0, n)
	for i, p := range parts {
		for c, v := range cols {
			appendVector(v, p.Cols[c], n)
		}
		for range p.N {
			part = append(part, int32(i))
		}
	}
	return job.sourceBatch(cols, n, part), nil
}

// appendVector appends src's rows to dst (of the same type); total is the
// length dst will reach.
func appendVector(dst, src *types.Vector, total int) {
	if src.Null != nil && dst.Null == nil {
		dst.Null = make([]bool, dst.Len(), total)
	}
	if dst.Null != nil {
		if src.Null != nil {
			dst.Null = append(dst.Null, src.Null...)
		} else {
			dst.Null = append(dst.Null, make([]bool, src.Len())...)
		}
	}
	dst.Str = append(dst.Str, src.Str...)
	dst.Bool = append(dst.Bool, src.Bool...)
	dst.I64 = append(dst.I64, src.I64...)
	dst.F64 = append(dst.F64, src.F64...)
}

func readFile(ctx context.Context, store lake.Store, f File, read types.Schema) (*types.Batch, error) {
	obj, info, err := store.Open(ctx, f.Key)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	defer obj.Close()
	if f.Size > 0 && info.Size != f.Size {
		return nil, fmt.Errorf("%w: the log says %d bytes, the object has %d", ErrBadWindowFile, f.Size, info.Size)
	}
	var ra io.ReaderAt = obj
	if info.Size <= smallObjectMax {
		data := make([]byte, info.Size)
		if n, err := obj.ReadAt(data, 0); n != len(data) {
			return nil, fmt.Errorf("read %d of %d bytes: %w", n, len(data), err)
		}
		ra = bytes.NewReader(data)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := lakeio.ReadParquet(ra, info.Size, read)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadWindowFile, err)
	}
	if f.Rows >= 0 && int64(b.N) != f.Rows {
		return nil, fmt.Errorf("%w: the log's stats say %d rows, the file has %d", ErrBadWindowFile, f.Rows, b.N)
	}
	return b, nil
}

// batchRows returns out as batch table rows when its columns are
// contract.BatchRow's, by name and type, without nulls; nil otherwise.
func batchRows(out *types.Batch) []contract.BatchRow {
	want := []string{"sensor_id STRING", "total_eventos BIGINT", "avg_temp_global DOUBLE", "avg_hum_global DOUBLE", "ok_total BIGINT", "ventanas BIGINT"}
	if len(out.Schema) != len(want) {
		return nil
	}
	for i, f := range out.Schema {
		if f.Name+" "+f.Type.String() != want[i] || out.Cols[i].Null != nil {
			return nil
		}
	}
	rows := make([]contract.BatchRow, out.N)
	c := out.Cols
	for i := range rows {
		rows[i] = contract.BatchRow{SensorID: c[0].Str[i], TotalEventos: c[1].I64[i], AvgTempGlobal: c[2].F64[i],
			AvgHumGlobal: c[3].F64[i], OKTotal: c[4].I64[i], Ventanas: c[5].I64[i]}
	}
	return rows
}
