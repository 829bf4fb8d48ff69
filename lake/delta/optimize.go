package delta

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
)

// DefaultOptimizeTargetFileSize is the size OPTIMIZE aims its files at
// unless told otherwise: 128 MiB, Delta's auto compaction target
// (spark.databricks.delta.autoCompact.maxFileSize) rather than OPTIMIZE's
// 1 GiB. Each file is rewritten by one process (not a cluster) that holds
// a row group in memory while it writes it, and this lake's tables are
// read whole by one process too: 128 MiB keeps both bounded while it
// still turns thousands of small streaming files into a few.
const DefaultOptimizeTargetFileSize = 128 << 20

// optimizeRowGroupBytes bounds a rewritten file's row groups (by
// parquet-go's uncompressed estimate), Parquet's customary block size.
const optimizeRowGroupBytes = 128 << 20

// OptimizeOptions says what Table.Optimize compacts.
type OptimizeOptions struct {
	// Where selects the partitions to compact (see ParsePartitionFilter);
	// nil: every partition.
	Where func(PartitionValues) bool
	// Predicate is Where's text, as commitInfo's predicate records it
	// (DESCRIBE HISTORY shows it); "" for none.
	Predicate string
	// TargetFileSize is the size in bytes a merged file aims at: files
	// smaller than it are compacted, in bins of at most this many input
	// bytes (as Spark's OPTIMIZE, whose minFileSize defaults to its
	// maxFileSize). 0: DefaultOptimizeTargetFileSize.
	TargetFileSize int64
	// MinFiles: a partition is compacted only when it holds at least this
	// many small files. 0: 2.
	MinFiles int
}

// FileSizeMetrics summarises a set of files, as Spark's OPTIMIZE reports
// filesAdded and filesRemoved.
type FileSizeMetrics struct {
	Min, Max   int64
	Avg        float64
	TotalFiles int
	TotalSize  int64
}

func fileSizeMetrics(sizes []int64) FileSizeMetrics {
	var m FileSizeMetrics
	for i, s := range sizes {
		if i == 0 || s < m.Min {
			m.Min = s
		}
		m.Max = max(m.Max, s)
		m.TotalSize += s
	}
	m.TotalFiles = len(sizes)
	if len(sizes) > 0 {
		m.Avg = float64(m.TotalSize) / float64(len(sizes))
	}
	return m
}

// OptimizeMetrics are the figures of Spark's OPTIMIZE result that apply
// to bin-packing.
type OptimizeMetrics struct {
	FilesAdded, FilesRemoved FileSizeMetrics
	// NumBins is how many merged files were written (Spark: one task each).
	NumBins int
	// TotalConsideredFiles counts the live files of the selected partitions;
	// TotalFilesSkipped those of them left as they are (large enough, alone
	// in their bin or partition, outside the table's directory, or with a
	// deletion vector).
	TotalConsideredFiles int
	TotalFilesSkipped    int
	// NumRowsCopied is how many rows the merged files hold (each counted
	// from the inputs' footers and checked against the output's).
	NumRowsCopied      int64
	StartTime, EndTime time.Time
}

// OptimizeResult is what Table.Optimize did.
type OptimizeResult struct {
	// Version is the commit's version; -1 when there was nothing to do
	// (and nothing was committed).
	Version                  int64
	Partitions               int // partitions with at least one merged file
	FilesRemoved, FilesAdded int
	BytesRemoved, BytesAdded int64
	Metrics                  OptimizeMetrics
	// PostCommitErr: the checkpoint or log cleanup after the commit failed;
	// the commit stands (see CommitResult).
	PostCommitErr error
}

// optimizeInput is a small file to compact, with what its footer says.
type optimizeInput struct {
	add    Add
	key    string
	rows   int64
	schema *parquet.Schema
	kv     map[string]string // footer key/value metadata
}

// optimizeBin is a set of files of one partition and one Parquet schema,
// rewritten as one file.
type optimizeBin struct {
	pv    PartitionValues
	files []optimizeInput
}

// Optimize compacts the table's small files (OPTIMIZE, bin-packing), for
// any Delta table this package can write: per partition (those Where
// selects), the live files smaller than TargetFileSize are grouped by
// their Parquet schema (files whose schemas differ are never merged: a
// column added by schema evolution, or another writer's physical types,
// stay in their own files), sorted by size and packed, as Spark packs
// them, into bins of at most TargetFileSize bytes. Each bin of two files
// or more is rewritten, rows copied in order with parquet-go, as one
// zstd-compressed Parquet file named as Spark names them
// (part-00000-<uuid>-c000.zstd.parquet) under the partition's directory,
// with stats from its footer; a bin of one file is left alone.
//
// Everything is one commit, operation OPTIMIZE (parameters predicate,
// zOrderBy and auto, as Spark records them), holding removes of the inputs
// and adds of the outputs, all with dataChange false. The transaction read
// only the files it removes, at SnapshotIsolation: a concurrent blind
// append (the streamer) never conflicts with it, while a concurrent
// commit that removed one of the same files does (a *ConflictError, and
// this call deletes the files it wrote). With nothing to compact it
// commits nothing and returns Version -1.
func (t *Table) Optimize(ctx context.Context, opts OptimizeOptions) (OptimizeResult, error) {
	res := OptimizeResult{Version: -1}
	res.Metrics.StartTime = t.now()
	target := opts.TargetFileSize
	if target == 0 {
		target = DefaultOptimizeTargetFileSize
	}
	minFiles := opts.MinFiles
	if minFiles == 0 {
		minFiles = 2
	}
	if target < 0 || minFiles < 0 {
		return res, fmt.Errorf("delta: optimize %s: target file size %d and min files %d must not be negative", t, target, minFiles)
	}
	snap, err := t.Snapshot(ctx)
	if err != nil {
		return res, err
	}
	if err := checkWrite(snap.Protocol(), snap.Metadata(), snap.Schema()); err != nil {
		return res, fmt.Errorf("%s: %w", t, err)
	}
	md := snap.Metadata()

	// The small files of each selected partition.
	partitions := map[string][]Add{}
	var order []string
	for _, a := range snap.Files() {
		if opts.Where != nil && !opts.Where(a.PartitionValues) {
			continue
		}
		res.Metrics.TotalConsideredFiles++
		if a.Size >= target || a.DeletionVector != nil {
			continue
		}
		if _, inside, err := t.relativePath(a.Path); err != nil || !inside {
			continue // not a file of this store: left where it is
		}
		k := PartitionPath(md.PartitionColumns, a.PartitionValues)
		if _, ok := partitions[k]; !ok {
			order = append(order, k)
		}
		partitions[k] = append(partitions[k], a)
	}
	slices.Sort(order)

	var bins []optimizeBin
	for _, k := range order {
		files := partitions[k]
		if len(files) < minFiles {
			continue
		}
		pb, err := t.planPartition(ctx, files, target)
		if err != nil {
			return res, err
		}
		if len(pb) > 0 {
			res.Partitions++
		}
		bins = append(bins, pb...)
	}
	if len(bins) == 0 {
		res.Metrics.TotalFilesSkipped = res.Metrics.TotalConsideredFiles
		res.Metrics.EndTime = t.now()
		return res, nil
	}

	// Rewrite each bin; remove its inputs.
	var actions []Action
	var written []string // keys, to delete if the commit cannot land
	var addedSizes, removedSizes []int64
	cleanup := func() {
		for _, k := range written {
			_ = t.store.Delete(context.WithoutCancel(ctx), k)
		}
	}
	deletedAt := t.now()
	for i, b := range bins {
		// path.Join drops the empty directory of an unpartitioned table.
		rel := path.Join(PartitionPath(md.PartitionColumns, b.pv), fmt.Sprintf("part-%05d-%s-c000.zstd.parquet", i, t.newID()))
		add, rows, err := t.rewriteBin(ctx, md, b, rel)
		if err != nil {
			cleanup()
			return res, err
		}
		written = append(written, t.key(rel))
		actions = append(actions, Action{Add: &add})
		addedSizes = append(addedSizes, add.Size)
		res.Metrics.NumRowsCopied += rows
		for _, in := range b.files {
			rm := RemoveOf(in.add, deletedAt, false)
			actions = append(actions, Action{Remove: &rm})
			removedSizes = append(removedSizes, in.add.Size)
		}
	}
	res.Metrics.NumBins = len(bins)
	res.Metrics.FilesAdded = fileSizeMetrics(addedSizes)
	res.Metrics.FilesRemoved = fileSizeMetrics(removedSizes)
	res.FilesAdded, res.BytesAdded = res.Metrics.FilesAdded.TotalFiles, res.Metrics.FilesAdded.TotalSize
	res.FilesRemoved, res.BytesRemoved = res.Metrics.FilesRemoved.TotalFiles, res.Metrics.FilesRemoved.TotalSize
	res.Metrics.TotalFilesSkipped = res.Metrics.TotalConsideredFiles - res.FilesRemoved

	predicate := []string{}
	if opts.Predicate != "" {
		predicate = append(predicate, opts.Predicate)
	}
	pj, _ := json.Marshal(predicate)
	cr, err := t.Commit(ctx, snap, Commit{
		Operation: Operation{Name: "OPTIMIZE", Parameters: map[string]string{
			"predicate": string(pj), "zOrderBy": "[]", "auto": "false"}},
		Actions:          actions,
		OperationMetrics: optimizeOperationMetrics(addedSizes, removedSizes),
	})
	if err != nil {
		// A commit refused by a conflict (or by every attempt) was not
		// written: its files are nobody's. Any other failure may hide a
		// commit that landed, so its files stay (VACUUM collects them if
		// it did not).
		if errors.Is(err, ErrConflict) || errors.Is(err, ErrTooManyAttempts) {
			cleanup()
		}
		return res, fmt.Errorf("delta: optimize %s: %w", t, err)
	}
	res.Version = cr.Version
	res.PostCommitErr = cr.PostCommitErr
	res.Metrics.EndTime = t.now()
	return res, nil
}

// planPartition reads the footers of one partition's small files, groups
// them by Parquet schema and packs each group into bins of at most target
// bytes, smallest files first (Spark's OPTIMIZE); bins of one file are
// dropped.
func (t *Table) planPartition(ctx context.Context, files []Add, target int64) ([]optimizeBin, error) {
	type group struct {
		schema *parquet.Schema
		files  []optimizeInput
	}
	var groups []*group
	for _, a := range files {
		in, err := t.readFooter(ctx, a)
		if err != nil {
			return nil, err
		}
		var g *group
		for _, h := range groups {
			if parquet.EqualNodes(h.schema, in.schema) {
				g = h
				break
			}
		}
		if g == nil {
			g = &group{schema: in.schema}
			groups = append(groups, g)
		}
		g.files = append(g.files, in)
	}
	var bins []optimizeBin
	for _, g := range groups {
		slices.SortFunc(g.files, func(a, b optimizeInput) int {
			return cmp.Or(cmp.Compare(a.add.Size, b.add.Size), cmp.Compare(a.add.Path, b.add.Path))
		})
		var cur []optimizeInput
		var size int64
		flush := func() {
			if len(cur) > 1 {
				bins = append(bins, optimizeBin{pv: cur[0].add.PartitionValues, files: cur})
			}
			cur, size = nil, 0
		}
		for _, in := range g.files {
			if len(cur) > 0 && size+in.add.Size > target {
				flush()
			}
			cur = append(cur, in)
			size += in.add.Size
		}
		flush()
	}
	return bins, nil
}

// readFooter opens a data file for its row count, schema and key/value
// metadata.
func (t *Table) readFooter(ctx context.Context, a Add) (optimizeInput, error) {
	key, err := t.DataKey(a.Path)
	if err != nil {
		return optimizeInput{}, err
	}
	obj, info, err := t.store.Open(ctx, key)
	if err != nil {
		return optimizeInput{}, fmt.Errorf("delta: optimize %s: live file %s: %w", t, a.Path, err)
	}
	defer obj.Close()
	f, err := parquet.OpenFile(obj, info.Size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return optimizeInput{}, fmt.Errorf("delta: optimize %s: live file %s: %w", t, a.Path, err)
	}
	kv := map[string]string{}
	for _, e := range f.Metadata().KeyValueMetadata {
		kv[e.Key] = e.Value
	}
	return optimizeInput{add: a, key: key, rows: f.NumRows(), schema: f.Schema(), kv: kv}, nil
}

// rewriteBin writes a bin's rows, in order, as one zstd Parquet file at
// rel (through a temporary file, so that only a row group is held in
// memory), and returns its add (dataChange false) and row count. The
// footer's key/value metadata is what every input agrees on (Spark's
// schema note, for one).
func (t *Table) rewriteBin(ctx context.Context, md Metadata, b optimizeBin, rel string) (Add, int64, error) {
	tmp, err := os.CreateTemp("", "delta-optimize-*.parquet")
	if err != nil {
		return Add{}, 0, fmt.Errorf("delta: optimize %s: %w", t, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	kv := maps.Clone(b.files[0].kv)
	for _, in := range b.files[1:] {
		for k, v := range kv {
			if w, ok := in.kv[k]; !ok || w != v {
				delete(kv, k)
			}
		}
	}
	schema := parquet.NewSchema(b.files[0].schema.Name(), zstdNode{b.files[0].schema})
	opts := []parquet.WriterOption{schema, parquet.Compression(&parquet.Zstd)}
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		opts = append(opts, parquet.KeyValueMetadata(k, kv[k]))
	}
	w := parquet.NewWriter(tmp, opts...)
	var want, flushed int64
	for _, in := range b.files {
		n, err := t.copyFile(ctx, w, in)
		if err != nil {
			return Add{}, 0, err
		}
		want += in.rows
		if n != in.rows {
			return Add{}, 0, fmt.Errorf("delta: optimize %s: %s: copied %d rows, its footer says %d", t, in.add.Path, n, in.rows)
		}
		if w.Size()-flushed >= optimizeRowGroupBytes {
			if err := w.Flush(); err != nil {
				return Add{}, 0, fmt.Errorf("delta: optimize %s: write %s: %w", t, rel, err)
			}
			flushed = w.Size()
		}
	}
	if err := w.Close(); err != nil {
		return Add{}, 0, fmt.Errorf("delta: optimize %s: write %s: %w", t, rel, err)
	}
	size, err := tmp.Seek(0, io.SeekEnd)
	if err != nil {
		return Add{}, 0, fmt.Errorf("delta: optimize %s: %w", t, err)
	}
	add, err := newAdd(md, rel, b.pv, tmp, size, t.now(), false)
	if err != nil {
		return Add{}, 0, err
	}
	if st, err := ParseStats(add.Stats); err != nil || st.NumRecords != want {
		return Add{}, 0, fmt.Errorf("delta: optimize %s: %s holds %d rows, want the %d of its inputs (%v)", t, rel, st.NumRecords, want, err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return Add{}, 0, fmt.Errorf("delta: optimize %s: %w", t, err)
	}
	if err := t.store.PutReader(ctx, t.key(rel), tmp, size); err != nil {
		return Add{}, 0, fmt.Errorf("delta: optimize %s: %w", t, err)
	}
	return add, want, nil
}

// copyFile copies every row of an input file to w, and returns how many.
func (t *Table) copyFile(ctx context.Context, w *parquet.Writer, in optimizeInput) (int64, error) {
	obj, info, err := t.store.Open(ctx, in.key)
	if err != nil {
		return 0, fmt.Errorf("delta: optimize %s: %s: %w", t, in.add.Path, err)
	}
	defer obj.Close()
	f, err := parquet.OpenFile(obj, info.Size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return 0, fmt.Errorf("delta: optimize %s: %s: %w", t, in.add.Path, err)
	}
	if !parquet.EqualNodes(f.Schema(), w.Schema()) {
		return 0, fmt.Errorf("delta: optimize %s: %s changed while being compacted (its schema differs)", t, in.add.Path)
	}
	var total int64
	for _, rg := range f.RowGroups() {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		rows := rg.Rows()
		n, err := w.ReadRowsFrom(rowsOnly{rows})
		rows.Close()
		total += n
		if err != nil {
			return total, fmt.Errorf("delta: optimize %s: copy %s: %w", t, in.add.Path, err)
		}
	}
	return total, nil
}

// zstdNode is a node of a data file's schema whose columns are written
// with zstd: a file's schema carries each column's codec, which the writer
// would otherwise keep. Types, repetition, logical types and encodings
// stay the file's.
type zstdNode struct{ parquet.Node }

func (n zstdNode) Compression() compress.Codec {
	if n.Leaf() {
		return &parquet.Zstd
	}
	return nil
}

func (n zstdNode) Fields() []parquet.Field {
	fields := n.Node.Fields()
	out := make([]parquet.Field, len(fields))
	for i, f := range fields {
		out[i] = zstdField{f}
	}
	return out
}

type zstdField struct{ parquet.Field }

func (f zstdField) Compression() compress.Codec { return zstdNode{f.Field}.Compression() }
func (f zstdField) Fields() []parquet.Field     { return zstdNode{f.Field}.Fields() }

// rowsOnly hides a row reader's shortcuts (copying compressed pages
// verbatim), so that rows are re-encoded with the writer's codec.
type rowsOnly struct{ r parquet.RowReader }

func (r rowsOnly) ReadRows(rows []parquet.Row) (int, error) { return r.r.ReadRows(rows) }

// optimizeOperationMetrics are the metrics Spark's OPTIMIZE records in
// commitInfo (DeltaOperationMetrics.OPTIMIZE): file counts and bytes, and
// the distribution of the added files' sizes.
func optimizeOperationMetrics(added, removed []int64) map[string]string {
	sum := func(s []int64) int64 {
		var n int64
		for _, v := range s {
			n += v
		}
		return n
	}
	sorted := slices.Sorted(slices.Values(added))
	pct := func(p float64) string {
		// Nearest rank.
		i := int(float64(len(sorted))*p+0.999999) - 1
		return strconv.FormatInt(sorted[min(max(i, 0), len(sorted)-1)], 10)
	}
	return map[string]string{
		"numAddedFiles":             strconv.Itoa(len(added)),
		"numRemovedFiles":           strconv.Itoa(len(removed)),
		"numAddedBytes":             strconv.FormatInt(sum(added), 10),
		"numRemovedBytes":           strconv.FormatInt(sum(removed), 10),
		"minFileSize":               pct(0),
		"p25FileSize":               pct(0.25),
		"p50FileSize":               pct(0.5),
		"p75FileSize":               pct(0.75),
		"maxFileSize":               pct(1),
		"numDeletionVectorsRemoved": "0",
	}
}
