package consolidate

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/sync/errgroup"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
)

// Read folds the window rows of files into an Aggregator. Files are read
// concurrently (at most concurrency at once) and their partial aggregates
// merged in the order of files, so the result is deterministic.
//
// Every file must exist and be a readable window file with the contract's
// column types; when the log recorded its size or row count, they must
// match. Anything else is an error naming the file: a live file is never
// silently skipped. A missing object matches lake.ErrNotExist.
func Read(ctx context.Context, store lake.Store, files []File, concurrency int) (*Aggregator, error) {
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	partials := make([]*Aggregator, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i, f := range files {
		g.Go(func() error {
			a, err := legacyReadFile(gctx, store, f)
			if err != nil {
				return fmt.Errorf("data file %s (%s): %w", f.Path, f.Key, err)
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

// readBufferSize is parquet-go's read size: the tail read on open, and the
// buffer of each column chunk reader (pooled by parquet-go).
const readBufferSize = 256 << 10

// readColumns are the window-row columns the formulas need, nothing else is
// read. Their order is that of the col* constants.
var readColumns = [...]string{"sensor_id", "eventos", "avg_temp", "avg_hum", "ok_count"}

// parallelRows is the smallest row group whose columns are decoded on two
// goroutines. Below it (every streamer window file), the overhead is not
// worth it, and Read already reads several files at once.
const parallelRows = 8192

// pageCounts counts the pages of a column decoded by each path.
type pageCounts struct{ typed, generic int }

func legacyReadFile(ctx context.Context, store lake.Store, f File) (agg *Aggregator, err error) {
	obj, info, err := store.Open(ctx, f.Key)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	defer obj.Close()
	if f.Size > 0 && info.Size != f.Size {
		return nil, fmt.Errorf("%w: the log says %d bytes, the object has %d", ErrBadWindowFile, f.Size, info.Size)
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
	// faster on MinIO (see the README's figures). Larger files (one
	// OPTIMIZE wrote) are read in place: the footer and only the needed column
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
	if f.Rows >= 0 && pf.NumRows() != f.Rows {
		return nil, fmt.Errorf("%w: the log's stats say %d rows, the file has %d", ErrBadWindowFile, f.Rows, pf.NumRows())
	}

	var cr columnReader
	if agg, err = cr.read(ctx, pf); err != nil {
		return nil, err
	}
	if agg.WindowRows() != pf.NumRows() {
		return nil, fmt.Errorf("%w: read %d rows, the footer says %d", ErrBadWindowFile, agg.WindowRows(), pf.NumRows())
	}
	return agg, nil
}

// The columns the formulas read, as indexes into readColumns.
const (
	colSensorID = iota
	colEventos
	colAvgTemp
	colAvgHum
	colOKCount
)

// columnReader decodes the five columns the formulas need straight from
// their column chunks, without assembling rows: the other columns of the file
// are never read or decompressed. One columnReader reads one file; its
// buffers are reused across the file's row groups and pages.
//
// Each page is decoded one of two ways into the same per-row buffers:
//
//   - the typed path: a page of a required column whose values reader is
//     parquet-go's typed reader for the column's physical type
//     (parquet.ByteArrayReader, Int64Reader, DoubleReader) is copied in bulk.
//     That is every page of a plain-encoded required column, which is what
//     the streamer's sink and OPTIMIZE write.
//   - the generic path, for every other page: parquet.Value by value through
//     ReadValues. It handles every encoding parquet-go does (dictionary,
//     delta, ...) and optional columns, whose page readers implement no
//     typed interface; a null is an error.
//
// Both paths fill the same buffers with the same values, and the fold that
// follows does not depend on how a page was decoded, so the aggregate is the
// same bit for bit (TestTypedAndGenericPathsAgree).
//
// The columns of a row group of parallelRows rows or more are decoded by two
// goroutines: sensor_id and ok_count on one, the three others on the other
// (about half the work each: sensor_id costs about two numeric columns).
// That is safe because all the state of a column (its per-row buffer, its
// generic-path buffer, its page counts) is touched only by the goroutine
// decoding it, only the sensor_id column touches the interned sensors, and
// the fold over the rows runs after both are done.
type columnReader struct {
	// forceGeneric decodes every page through the generic path (tests).
	forceGeneric bool
	// pages counts the pages of each column (by col* index) decoded by
	// each path.
	pages [len(readColumns)]pageCounts

	values [len(readColumns)][]parquet.Value // each column's generic-path buffer
	bytes  []byte                            // the typed sensor_id path's buffer (length-prefixed values)

	// Per row of the current row group.
	sensor  []int32 // index into ids
	eventos []int64
	okCount []int64
	avgTemp []float64
	avgHum  []float64

	// The file's sensors, interned: ids[i] is the sensor of index i, whose
	// running sums are sums[i]. len(ids) == len(sums).
	ids      []string
	idByName map[string]int32
	sums     []partial
	// idCache[h] is 1 + the index of the last id seen whose hash is h
	// (modulo its size), 0 for none: see intern.
	idCache [256]int32
}

// read decodes every row group of pf and returns its aggregate.
//
// The per-sensor sums are accumulated over the whole file in row order, from
// zero, exactly as Aggregator.Add would accumulate them row by row, and are
// folded into the (empty) returned Aggregator once at the end: the floating
// point sums are the same as those of an Add per row.
func (c *columnReader) read(ctx context.Context, pf *parquet.File) (*Aggregator, error) {
	c.idByName = make(map[string]int32)
	for _, rg := range pf.RowGroups() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := c.readRowGroup(rg); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadWindowFile, err)
		}
	}
	agg := &Aggregator{}
	for i, id := range c.ids {
		agg.addPartial(id, c.sums[i])
		agg.rows += c.sums[i].windows
	}
	return agg, nil
}

// readRowGroup decodes the row group's five columns into the per-row buffers,
// then folds its rows into the per-sensor sums.
func (c *columnReader) readRowGroup(rg parquet.RowGroup) error {
	n := int(rg.NumRows())
	c.sensor = resize(c.sensor, n)
	c.eventos = resize(c.eventos, n)
	c.okCount = resize(c.okCount, n)
	c.avgTemp = resize(c.avgTemp, n)
	c.avgHum = resize(c.avgHum, n)
	chunks := rg.ColumnChunks()
	schema := rg.Schema()
	decode := func(cols ...int) error {
		for _, col := range cols {
			name := readColumns[col]
			leaf, _ := schema.Lookup(name)
			if err := c.readColumn(chunks[leaf.ColumnIndex], col, n); err != nil {
				return fmt.Errorf("column %q: %w", name, err)
			}
		}
		return nil
	}
	if n < parallelRows {
		if err := decode(colSensorID, colEventos, colAvgTemp, colAvgHum, colOKCount); err != nil {
			return err
		}
	} else {
		var g errgroup.Group
		g.Go(func() error { return decode(colSensorID, colOKCount) })
		g.Go(func() error { return decode(colEventos, colAvgTemp, colAvgHum) })
		if err := g.Wait(); err != nil {
			return err
		}
	}
	for r := range n {
		s := &c.sums[c.sensor[r]]
		s.windows++
		s.eventos += c.eventos[r]
		s.okCount += c.okCount[r]
		s.sumTemp += c.avgTemp[r]
		s.sumHum += c.avgHum[r]
	}
	return nil
}

// readColumn decodes the n values of column col (a non-repeated column
// chunk) into its per-row buffer.
func (c *columnReader) readColumn(cc parquet.ColumnChunk, col, n int) (err error) {
	// parquet-go panics on some malformed inputs (see readFile). The
	// columns of a large row group are decoded on other goroutines than
	// readFile's, whose recover does not see their panics.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parquet decoder failed: %v", r)
		}
	}()
	pages := cc.Pages()
	defer func() { err = errors.Join(err, pages.Close()) }()
	i := 0 // values decoded so far
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read page: %w", err)
		}
		k, err := c.readPage(p, col, i, n)
		parquet.Release(p)
		if err != nil {
			return err
		}
		i += k
	}
	if i != n {
		return fmt.Errorf("%d values for %d rows", i, n)
	}
	return nil
}

// readPage decodes page p of column col into rows i, i+1, ... (at most up to
// n) of its buffer and returns how many values it decoded.
func (c *columnReader) readPage(p parquet.Page, col, i, n int) (int, error) {
	if !c.forceGeneric && p.NumNulls() == 0 && len(p.DefinitionLevels()) == 0 && len(p.RepetitionLevels()) == 0 {
		// A page without levels has one value per row: NumValues is exact.
		m := int(p.NumValues())
		if m > n-i {
			return 0, fmt.Errorf("more values than the row group's %d rows", n)
		}
		if ok, err := c.readTyped(p, col, i, i+m); ok {
			c.pages[col].typed++
			return m, err
		}
	}
	c.pages[col].generic++
	return c.readGeneric(p.Values(), col, i, n)
}

// readTyped decodes exactly the values of rows [i, j) of column col through
// p's typed values reader for the column's physical type, and reports
// whether p has one (if not, nothing was read and the caller falls back to
// the generic path). The page must hold exactly j-i values.
func (c *columnReader) readTyped(p parquet.Page, col, i, j int) (bool, error) {
	values := p.Values()
	switch col {
	case colSensorID:
		r, ok := values.(parquet.ByteArrayReader)
		if !ok {
			return false, nil
		}
		// The page's uncompressed size is about what the reader writes
		// (a 4-byte length and the bytes per value): a buffer of that
		// size, capped, reads a small page in one call.
		if size := int(min(p.Size(), maxBytesBuffer)); len(c.bytes) < size {
			c.bytes = make([]byte, size)
		}
		return true, c.readSensorIDs(r, c.sensor[i:j])
	case colEventos, colOKCount:
		r, ok := values.(parquet.Int64Reader)
		if !ok {
			return false, nil
		}
		dst := c.eventos[i:j]
		if col == colOKCount {
			dst = c.okCount[i:j]
		}
		return true, readExactly(len(dst), func(k int) (int, error) { return r.ReadInt64s(dst[k:]) })
	case colAvgTemp, colAvgHum:
		r, ok := values.(parquet.DoubleReader)
		if !ok {
			return false, nil
		}
		dst := c.avgTemp[i:j]
		if col == colAvgHum {
			dst = c.avgHum[i:j]
		}
		return true, readExactly(len(dst), func(k int) (int, error) { return r.ReadDoubles(dst[k:]) })
	}
	panic("consolidate: unknown column")
}

// readExactly calls read(k) (read values into the destination from index k
// on, returning how many) until m values are read, and checks that the
// reader then reports io.EOF: a page holding more or fewer values than it
// says is an error, not a silently short or truncated column.
func readExactly(m int, read func(k int) (int, error)) error {
	k := 0
	for {
		r, err := read(k)
		k += r
		switch {
		case errors.Is(err, io.EOF):
			if k != m {
				return fmt.Errorf("page of %d values has %d", m, k)
			}
			return nil
		case err != nil:
			return fmt.Errorf("read values: %w", err)
		case k == m && r == 0:
			// The destination is full (a read into it returns 0) and
			// the reader has not reported io.EOF: more values remain.
			return fmt.Errorf("page of %d values has more", m)
		case r == 0:
			return fmt.Errorf("read values: no progress after %d of %d", k, m)
		}
	}
}

// maxBytesBuffer caps the size of the buffer the typed sensor_id path sizes
// after a page; it grows beyond only for a value that does not fit.
const maxBytesBuffer = 64 << 10

// readSensorIDs reads len(dst) sensor ids from r and stores their interned
// indexes in dst. r writes values as 4-byte little-endian lengths followed
// by the bytes (the PLAIN encoding) into c.bytes, which grows when a value
// does not fit.
func (c *columnReader) readSensorIDs(r parquet.ByteArrayReader, dst []int32) error {
	return readExactly(len(dst), func(k int) (int, error) {
		for {
			buf := c.bytes
			if k == len(dst) {
				buf = buf[:0] // only ask for io.EOF: nothing may be written
			}
			m, err := r.ReadByteArrays(buf)
			if errors.Is(err, io.ErrShortBuffer) && m == 0 && len(buf) > 0 {
				c.bytes = make([]byte, max(2*len(c.bytes), 64)) // the next value is larger than the buffer
				continue
			}
			if k+m > len(dst) {
				return 0, fmt.Errorf("page of %d values has more", len(dst))
			}
			pos := 0
			for j := range m {
				l := int(binary.LittleEndian.Uint32(buf[pos:]))
				dst[k+j] = c.intern(buf[pos+4 : pos+4+l])
				pos += 4 + l
			}
			return m, err
		}
	})
}

// readGeneric decodes values through ReadValues into rows i, i+1, ... of
// column col's buffer (at most up to n) and returns how many it decoded.
func (c *columnReader) readGeneric(values parquet.ValueReader, col, i, n int) (int, error) {
	buf := c.values[col]
	if buf == nil {
		buf = make([]parquet.Value, 512)
		c.values[col] = buf
	}
	start := i
	for {
		k, err := values.ReadValues(buf)
		if i+k > n {
			return i - start, fmt.Errorf("more values than the row group's %d rows", n)
		}
		vs := buf[:k]
		for j, v := range vs {
			if v.IsNull() {
				return i - start, fmt.Errorf("null value at row %d", i+j)
			}
		}
		switch col {
		case colSensorID:
			for j, v := range vs {
				c.sensor[i+j] = c.intern(v.ByteArray())
			}
		case colEventos:
			for j, v := range vs {
				c.eventos[i+j] = v.Int64()
			}
		case colOKCount:
			for j, v := range vs {
				c.okCount[i+j] = v.Int64()
			}
		case colAvgTemp:
			for j, v := range vs {
				c.avgTemp[i+j] = v.Double()
			}
		case colAvgHum:
			for j, v := range vs {
				c.avgHum[i+j] = v.Double()
			}
		}
		i += k
		if errors.Is(err, io.EOF) {
			return i - start, nil
		}
		if err != nil {
			return i - start, fmt.Errorf("read values: %w", err)
		}
		if k == 0 {
			return i - start, errors.New("read values: no progress")
		}
	}
}

// intern returns the index of sensor id b, adding it (and zero sums) the
// first time it is seen. It does not allocate but for a new id (copied into
// a string). A direct-mapped cache answers most lookups without hashing b
// into the map: a file has few sensors, each on many rows.
func (c *columnReader) intern(b []byte) int32 {
	h := uint32(2166136261) // FNV-1a
	for _, x := range b {
		h = (h ^ uint32(x)) * 16777619
	}
	slot := &c.idCache[h%uint32(len(c.idCache))]
	if id := *slot - 1; id >= 0 && c.ids[id] == string(b) {
		return id
	}
	id, ok := c.idByName[string(b)]
	if !ok {
		id = int32(len(c.ids))
		s := string(b)
		c.ids = append(c.ids, s)
		c.sums = append(c.sums, partial{})
		c.idByName[s] = id
	}
	*slot = id + 1
	return id
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
