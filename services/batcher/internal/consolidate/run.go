package consolidate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/query/lakeio"
	"github.com/sensorlab/sensorlab/query/plan"
	"github.com/sensorlab/sensorlab/query/types"
)

// The lake's two Delta tables, as roots in the lake.
var (
	StreamTable = strings.TrimSuffix(contract.StreamPrefix, "/") // window rows, the streamer's
	BatchTable  = strings.TrimSuffix(contract.BatchDir, "/")     // consolidated rows, the batcher's
)

// Options configure a Consolidator.
type Options struct {
	// Concurrency is how many data files are read at once (<= 0:
	// DefaultConcurrency).
	Concurrency int
	// AsOfVersion, when set, reads the stream table as of this version.
	AsOfVersion *int64
	// AsOfTimestamp, when not zero (and AsOfVersion is nil), reads the
	// stream table as of this time, by Delta's rules. Neither set: the
	// latest version, or the one the query's VERSION AS OF / TIMESTAMP AS
	// OF names. When the query names one too, both must name the same
	// (ErrAsOfConflict otherwise).
	AsOfTimestamp time.Time
	// SkipUnchanged skips a run whose stream table version is the one the
	// batch table's latest commit was consolidated from (interval mode):
	// the batch table already holds that result.
	SkipUnchanged bool
	// Now is the clock of the add and remove actions' times (default
	// time.Now).
	Now func() time.Time
	// TableOptions are passed to both tables (tests set clocks and ids).
	TableOptions []delta.Option
	// Job is the batch query run (nil: SeedJob, the seed lab's
	// consolidation of StreamTable into BatchTable).
	Job *Job
}

// Result is what one consolidation run read and wrote.
type Result struct {
	// Output is the rows written, in the query's output schema and order.
	Output *types.Batch
	// Rows are Output as batch table rows, when its columns are
	// contract.BatchRow's (the seed's query); nil otherwise.
	Rows       []contract.BatchRow
	Files      int   // live data files of the source snapshot read
	WindowRows int64 // source rows read
	Bytes      int64 // size of the data file written
	Duration   time.Duration
	// Source is the stream table version read; Source.Version is -1 when
	// there is no stream table yet.
	Source Source
	// BatchVersion is the batch table version the run committed, or the
	// one it left in place when Skipped.
	BatchVersion int64
	// Object is the key of the data file written ("" when Skipped).
	Object string
	// Skipped is true when SkipUnchanged found the batch table already
	// consolidated from this stream version: nothing was read or written.
	Skipped bool
	// PostCommitErr is a failure after the commit landed (its checkpoint,
	// log cleanup): the run's result stands; log it.
	PostCommitErr error
}

// Source records which stream table version a batch table commit was
// consolidated from: the commit's userMetadata, as JSON, which DESCRIBE
// HISTORY shows.
type Source struct {
	Table   string `json:"sourceTable"`
	TableID string `json:"sourceTableId,omitempty"`
	// Version is the stream table version read; -1: no stream table.
	Version int64 `json:"sourceVersion"`
	// AsOfVersion and AsOfTimestamp say the run time-travelled, and how.
	AsOfVersion   *int64 `json:"asOfVersion,omitempty"`
	AsOfTimestamp string `json:"asOfTimestamp,omitempty"`
}

// sameLatest reports whether s and o record the same latest (not
// time-travelled) read of the same stream table.
func (s Source) sameLatest(o Source) bool {
	return s.Table == o.Table && s.TableID == o.TableID && s.Version == o.Version &&
		s.AsOfVersion == nil && o.AsOfVersion == nil && s.AsOfTimestamp == "" && o.AsOfTimestamp == ""
}

// ErrLegacyLake refuses a lake an earlier sensorlab wrote: plain Parquet
// and a private commit log (stream/_sink_log/) instead of Delta tables.
var ErrLegacyLake = errors.New("the lake was written by an earlier sensorlab")

// legacyLog is the directory of the private commit log an earlier sensorlab
// kept in its stream table.
const legacyLog = "_sink_log/"

// CheckNotLegacy refuses a table root (in store) holding the private commit
// log of an earlier sensorlab: its files are not a Delta table, and nothing
// migrates them.
func CheckNotLegacy(ctx context.Context, store lake.Store, root string) error {
	prefix := legacyLog
	if root != "" {
		prefix = root + "/" + legacyLog
	}
	objs, err := store.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("look for %s: %w", prefix, err)
	}
	if len(objs) > 0 {
		return fmt.Errorf("%w: %s holds %s (%d objects), the private commit log sensorlab kept before its tables were Delta tables; "+
			"nothing migrates it: start on an empty lake (another LAKE, or another prefix), or move %s/ and %s/ aside",
			ErrLegacyLake, store, prefix, len(objs), StreamTable, BatchTable)
	}
	return nil
}

// Consolidator runs consolidations of one lake. It keeps the two tables'
// latest snapshots between runs, so that an interval-mode batcher, which
// reuses one, reads only the commits made since its last run rather than
// each table's checkpoint (which for the batch table holds a week of
// tombstones). It is safe for one run at a time.
type Consolidator struct {
	store       lake.Store
	opts        Options
	job         *Job
	jobErr      error // compiling the seed's query failed
	stream      *delta.Table
	batch       *delta.Table
	streamCache snapshotCache
	batchCache  snapshotCache
}

// snapshotCache is a table's latest snapshot as of the last run, and the
// time of its version's commit file then: a table deleted and created again
// (a reset stream) has other commit files, and is read afresh.
type snapshotCache struct {
	snap *delta.Snapshot
	key  string    // the commit file of snap's version
	mod  time.Time // its modification time, by Stat
}

// latest returns tbl's latest snapshot: the cached one brought up to date
// (Snapshot.Update reads only the commits made since), or when there is
// none, or its commit file is gone or another, the table read afresh.
func (c *Consolidator) latest(ctx context.Context, tbl *delta.Table, root string, cache *snapshotCache) (*delta.Snapshot, error) {
	if cache.snap != nil {
		if info, err := c.store.Stat(ctx, cache.key); err == nil && info.ModTime.Equal(cache.mod) {
			if snap, err := cache.snap.Update(ctx); err == nil {
				c.remember(ctx, root, cache, snap)
				return snap, nil
			}
		}
		*cache = snapshotCache{}
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	c.remember(ctx, root, cache, snap)
	return snap, nil
}

// remember caches snap, with the modification time of its commit file (no
// cache when that cannot be read).
func (c *Consolidator) remember(ctx context.Context, root string, cache *snapshotCache, snap *delta.Snapshot) {
	if snap == cache.snap {
		return
	}
	key := fmt.Sprintf("%s/_delta_log/%020d.json", root, snap.Version())
	info, err := c.store.Stat(ctx, key)
	if err != nil {
		*cache = snapshotCache{}
		return
	}
	*cache = snapshotCache{snap: snap, key: key, mod: info.ModTime}
}

// New returns a Consolidator of store's stream table into its batch table.
// The tables are the job's (Options.Job, the seed's by default).
func New(store lake.Store, opts Options) *Consolidator {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Consolidator{store: store, opts: opts, job: opts.Job}
	if c.job == nil {
		c.job, c.jobErr = SeedJob()
		if c.jobErr != nil {
			return c
		}
	}
	c.stream = delta.NewTable(store, c.job.Source, opts.TableOptions...)
	c.batch = delta.NewTable(store, c.job.Sink, opts.TableOptions...)
	return c
}

// Run consolidates once with opts (see Consolidator.Run).
func Run(ctx context.Context, store lake.Store, opts Options) (Result, error) {
	return New(store, opts).Run(ctx)
}

// Run reads a snapshot of the job's source table, the stream table by
// default (the latest, or the one the query's VERSION AS OF / TIMESTAMP AS
// OF or Options.AsOfVersion / AsOfTimestamp name), runs the job's query over the rows of its live files (read in
// the log's order, each file an input partition of the engine, whose
// partial aggregates merge in that order) and writes the result to the
// sink table, the batch table by default, in one commit: an overwrite, or
// with mode = 'append' an append.
//
// A stream table that does not exist yet (the streamer has committed
// nothing) consolidates to no rows: the batch table is overwritten with an
// empty data file, so that it always exists once the batcher has run and
// always has the schema. Time travel on a missing table is an error. A lake
// an earlier sensorlab wrote is refused (ErrLegacyLake).
func (c *Consolidator) Run(ctx context.Context) (Result, error) {
	start := time.Now()
	if c.jobErr != nil {
		return Result{}, c.jobErr
	}
	if err := CheckNotLegacy(ctx, c.store, c.job.Source); err != nil {
		return Result{}, err
	}
	snap, src, err := c.readStream(ctx)
	if err != nil {
		return Result{}, err
	}
	bsnap, err := c.latest(ctx, c.batch, c.job.Sink, &c.batchCache)
	if errors.Is(err, delta.ErrNotATable) {
		bsnap = nil
	} else if err != nil {
		return Result{}, fmt.Errorf("read the batch table %s: %w", c.batch, err)
	}
	res := Result{Source: src, BatchVersion: -1}
	if bsnap != nil {
		res.BatchVersion = bsnap.Version()
	}
	if c.opts.SkipUnchanged && bsnap != nil {
		if last, ok := c.lastSource(ctx, bsnap); ok && last.sameLatest(src) {
			res.Skipped, res.Duration = true, time.Since(start)
			return res, nil
		}
	}

	var files []File
	if snap != nil {
		if files, err = c.dataFiles(snap); err != nil {
			return Result{}, err
		}
	}
	in, err := ReadTable(ctx, c.store, c.job, files, c.opts.Concurrency)
	if err != nil {
		if errors.Is(err, lake.ErrNotExist) {
			return Result{}, fmt.Errorf("stream table %s version %d lists a data file the lake lacks (vacuumed, or lost): %w", c.stream, snap.Version(), err)
		}
		return Result{}, fmt.Errorf("stream table %s version %d: %w", c.stream, snap.Version(), err)
	}
	res.Files, res.WindowRows = len(files), int64(in.N)
	x, err := c.job.Query.NewExecutor()
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", c.job.File, err)
	}
	out, err := x.ProcessRows(in)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", c.job.File, err)
	}
	res.Output, res.Rows = out.Rows, batchRows(out.Rows)
	if err := c.write(ctx, bsnap, &res); err != nil {
		return Result{}, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

// readStream reads the stream table's snapshot the options ask for, and
// what a batch commit records of it. The snapshot is nil when the table
// does not exist and the latest version was asked for.
func (c *Consolidator) readStream(ctx context.Context) (*delta.Snapshot, Source, error) {
	src := Source{Table: c.job.Source, Version: -1}
	asOfVersion, asOfTime, err := c.asOf()
	if err != nil {
		return nil, src, err
	}
	var snap *delta.Snapshot
	switch {
	case asOfVersion != nil:
		v := *asOfVersion
		src.AsOfVersion = &v
		if snap, err = c.stream.SnapshotAt(ctx, v); err != nil {
			return nil, src, fmt.Errorf("read the stream table %s as of version %d: %w", c.stream, v, err)
		}
	case !asOfTime.IsZero():
		ts := asOfTime
		src.AsOfTimestamp = ts.UTC().Format(time.RFC3339Nano)
		if snap, err = c.stream.SnapshotAsOf(ctx, ts); err != nil {
			return nil, src, fmt.Errorf("read the stream table %s as of %s: %w", c.stream, src.AsOfTimestamp, err)
		}
	default:
		snap, err = c.latest(ctx, c.stream, c.job.Source, &c.streamCache)
		if errors.Is(err, delta.ErrNotATable) {
			return nil, src, nil
		}
		if err != nil {
			return nil, src, fmt.Errorf("read the stream table %s: %w", c.stream, err)
		}
	}
	src.TableID, src.Version = snap.Metadata().ID, snap.Version()
	if err := checkSourceSchema(snap.Schema(), c.job.Read); err != nil {
		return nil, src, fmt.Errorf("stream table %s version %d: %w", c.stream, snap.Version(), err)
	}
	return snap, src, nil
}

// ErrAsOfConflict refuses a run whose query text and options (the
// --as-of-version / --as-of-timestamp flags) name two different snapshots
// of the source table.
var ErrAsOfConflict = errors.New("two snapshots asked for")

// asOf is the snapshot the run reads: the query's VERSION AS OF or
// TIMESTAMP AS OF (Spark's way, the only one Spark has), else the options'
// AsOfVersion or AsOfTimestamp; neither: nil and zero, the latest. The
// query and the options may both name it only if they name the same one.
func (c *Consolidator) asOf() (*int64, time.Time, error) {
	q := c.job.Query.AsOf
	flagged := c.opts.AsOfVersion != nil || !c.opts.AsOfTimestamp.IsZero()
	if q == nil {
		if c.opts.AsOfVersion != nil {
			return c.opts.AsOfVersion, time.Time{}, nil
		}
		return nil, c.opts.AsOfTimestamp, nil
	}
	if flagged && !sameAsOf(q, c.opts.AsOfVersion, c.opts.AsOfTimestamp) {
		flag := "--as-of-timestamp " + c.opts.AsOfTimestamp.UTC().Format(time.RFC3339Nano)
		if c.opts.AsOfVersion != nil {
			flag = fmt.Sprintf("--as-of-version %d", *c.opts.AsOfVersion)
		}
		return nil, time.Time{}, fmt.Errorf("%w: %s:%s: the query reads %s %s, and %s asks for another snapshot: name it once, in the query or by the flag",
			ErrAsOfConflict, c.job.File, q.At, c.job.Query.Source.Name, q, flag)
	}
	return q.Version, q.Timestamp, nil
}

// sameAsOf reports whether the query's clause names the snapshot version
// or ts does (a version and a time never match: which version a time
// reads depends on the log).
func sameAsOf(q *plan.AsOf, version *int64, ts time.Time) bool {
	if q.Version != nil {
		return version != nil && *version == *q.Version
	}
	return version == nil && q.Timestamp.Equal(ts)
}

// checkSourceSchema checks that the table's schema has the columns the
// query reads (matched without regard to case), of the declared types
// (each data file is checked again when read).
func checkSourceSchema(s delta.StructType, read types.Schema) error {
	var errs []error
	for _, want := range read {
		i := slices.IndexFunc(s.Fields, func(f delta.StructField) bool { return strings.EqualFold(f.Name, want.Name) })
		wantName, err := lakeio.DeltaType(want.Type)
		if err != nil {
			return err
		}
		if i < 0 {
			errs = append(errs, fmt.Errorf("the schema has no column %q", want.Name))
			continue
		}
		f := s.Fields[i]
		got, err := lakeio.FromDelta(delta.StructType{Fields: []delta.StructField{f}})
		if err != nil || got[0].Type != want.Type {
			errs = append(errs, fmt.Errorf("column %q is %s in the schema, want %s", want.Name, f.Type.TypeName(), wantName))
		}
	}
	return errors.Join(errs...)
}

// dataFiles lists the snapshot's live files with their keys, sizes and row
// counts (from the adds' stats, when they hold numRecords).
func (c *Consolidator) dataFiles(snap *delta.Snapshot) ([]File, error) {
	adds := snap.Files()
	files := make([]File, len(adds))
	for i, a := range adds {
		key, err := c.stream.DataKey(a.Path)
		if err != nil {
			return nil, fmt.Errorf("stream table version %d: %w", snap.Version(), err)
		}
		files[i] = File{Path: a.Path, Key: key, Size: a.Size, Rows: numRecords(a.Stats)}
	}
	return files, nil
}

// numRecords is the stats' numRecords, -1 when absent or unreadable (stats
// are optional: a file without them is read unchecked).
func numRecords(stats string) int64 {
	if stats == "" {
		return -1
	}
	var s struct {
		NumRecords *int64 `json:"numRecords"`
	}
	if json.Unmarshal([]byte(stats), &s) != nil || s.NumRecords == nil {
		return -1
	}
	return *s.NumRecords
}

// lastSource returns what the batch table's latest commit records of its
// source, if it is one of the batcher's.
func (c *Consolidator) lastSource(ctx context.Context, bsnap *delta.Snapshot) (Source, bool) {
	// The latest commit file is always in the log (metadata cleanup keeps
	// everything after the newest checkpoint it may delete before).
	data, err := c.store.Get(ctx, fmt.Sprintf("%s/_delta_log/%020d.json", c.job.Sink, bsnap.Version()))
	if err != nil {
		return Source{}, false
	}
	actions, err := delta.ParseActions(data)
	if err != nil {
		return Source{}, false
	}
	for _, a := range actions {
		if a.CommitInfo != nil && a.CommitInfo.UserMetadata != "" {
			var s Source
			if json.Unmarshal([]byte(a.CommitInfo.UserMetadata), &s) == nil && s.Table != "" {
				return s, true
			}
		}
	}
	return Source{}, false
}

// BatchSchema is the batch table's schema: contract.BatchRow's six columns,
// as the seed writes them.
func BatchSchema() (delta.StructType, error) {
	return delta.SchemaFromParquet(parquet.SchemaOf(contract.BatchRow{}))
}

// checkBatchSchema refuses to overwrite a batch table whose schema or
// partitioning is not the batcher's (another writer's table): Spark's
// overwrite refuses a schema change too, unless asked to replace it.
func checkBatchSchema(md delta.Metadata, want delta.StructType) error {
	got, err := md.Schema()
	if err != nil {
		return err
	}
	same := len(got.Fields) == len(want.Fields) && len(md.PartitionColumns) == 0
	for i := 0; same && i < len(got.Fields); i++ {
		same = got.Fields[i].Name == want.Fields[i].Name && got.Fields[i].Type.TypeName() == want.Fields[i].Type.TypeName()
	}
	if !same {
		g, _ := got.JSON()
		w, _ := want.JSON()
		return fmt.Errorf("its schema %s (partitioned by %v) is not the batcher's %s, unpartitioned: move the table aside", g, md.PartitionColumns, w)
	}
	return nil
}

// outputCodec compresses the consolidated data file. The file is small (one
// row per sensor: 2 KB for the lab's 20): zstd's fastest level compresses it
// as well as the default level (2087 bytes against 2083), and its encoder's
// tables are a quarter of the default's, whose first use page-faulted in
// about 7 % of a one-shot batcher's CPU on a compacted lake.
var outputCodec = &zstd.Codec{Level: zstd.SpeedFastest}

// Encode returns rows as a consolidated Parquet data file: contract.BatchRow's
// schema, zstd-compressed, one row group.
func Encode(rows []contract.BatchRow) ([]byte, error) {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[contract.BatchRow](&buf, parquet.Compression(outputCodec))
	if _, err := w.Write(rows); err != nil {
		return nil, fmt.Errorf("encode consolidated rows: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode consolidated rows: %w", err)
	}
	return buf.Bytes(), nil
}

// DataFileName is a new data file's name, Spark's pattern for a file of
// task 0: part-00000-<uuid>-c000.zstd.parquet. Every run writes a new one,
// so a reader of an older version still finds its file.
func DataFileName() string {
	return "part-00000-" + uuid.NewString() + "-c000.zstd.parquet"
}

// write overwrites the batch table (read: its latest snapshot, nil when it
// does not exist) with res.Rows in one commit: the new data file added,
// every live file removed, the source recorded in userMetadata.
//
// The data file is written before the commit; if the commit fails, it stays
// behind unreferenced (the commit may have landed after all when the store
// failed to answer), and `batcher vacuum` deletes it once older than the
// retention.
func (c *Consolidator) write(ctx context.Context, read *delta.Snapshot, res *Result) error {
	out := *res.Output
	schema, err := lakeio.DeltaSchema(out.Schema)
	if err != nil {
		return fmt.Errorf("%s: sink %s: %w", c.job.File, c.job.Query.Sink.Name, err)
	}
	var actions []delta.Action
	var md delta.Metadata
	if read == nil {
		if md, err = c.batch.NewMetadata(schema, nil, nil); err != nil {
			return fmt.Errorf("create the batch table %s: %w", c.batch, err)
		}
		actions = append(actions, delta.Action{Metadata: &md})
	} else {
		md = read.Metadata()
		if err := checkBatchSchema(md, schema); err != nil {
			return fmt.Errorf("batch table %s: %w", c.batch, err)
		}
		// The table keeps its schema: its columns' nullability is the
		// data file's (a null in a NOT NULL column is an error).
		ts, _ := md.Schema()
		out.Schema = slices.Clone(out.Schema)
		for i := range out.Schema {
			out.Schema[i].Nullable = ts.Fields[i].Nullable
		}
	}
	var buf bytes.Buffer
	if err := lakeio.WriteParquet(&buf, &out, lakeio.Zstd); err != nil {
		return fmt.Errorf("%s: sink %s: %w", c.job.File, c.job.Query.Sink.Name, err)
	}
	data := buf.Bytes()
	name := DataFileName()
	key := c.job.Sink + "/" + name
	now := c.opts.Now()
	add, err := delta.NewAdd(md, name, delta.PartitionValues{}, data, now, true)
	if err != nil {
		return fmt.Errorf("add %s: %w", key, err)
	}
	if err := c.store.Put(ctx, key, data); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	actions = append(actions, delta.Action{Add: &add})
	appending := c.job.Query.Sink.Mode == "append"
	if read != nil && !appending {
		for _, f := range read.Files() {
			rm := delta.RemoveOf(f, now, true)
			actions = append(actions, delta.Action{Remove: &rm})
		}
	}
	meta, err := json.Marshal(res.Source)
	if err != nil {
		return fmt.Errorf("record the source: %w", err)
	}
	commit := delta.Commit{
		Operation:      delta.Write("Overwrite", nil),
		Actions:        actions,
		ReadWholeTable: true,
		UserMetadata:   string(meta),
	}
	if appending {
		commit.Operation, commit.ReadWholeTable = delta.Write("Append", nil), false
	}
	cr, err := c.batch.Commit(ctx, read, commit)
	if err != nil {
		return fmt.Errorf("commit to the batch table %s: %w", c.batch, err)
	}
	res.BatchVersion, res.Object, res.Bytes, res.PostCommitErr = cr.Version, key, int64(len(data)), cr.PostCommitErr
	return nil
}
