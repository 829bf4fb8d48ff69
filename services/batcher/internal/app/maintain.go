package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/services/batcher/internal/config"
	"github.com/sensorlab/sensorlab/services/batcher/internal/consolidate"
)

// Maintain runs one of the Delta maintenance commands (optimize, vacuum,
// history, detail) on the table cfg names: its results go to out, its logs
// to log. It returns the error that made it fail, as one line.
func Maintain(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer) error {
	tbl, err := openTable(ctx, cfg)
	if err != nil {
		return err
	}
	switch cfg.Command {
	case config.CommandHistory:
		h, err := tbl.History(ctx, cfg.HistoryLimit)
		if err != nil {
			return tableErr(ctx, tbl, err)
		}
		return WriteHistory(out, h, cfg.JSON)
	case config.CommandDetail:
		snap, err := tbl.Snapshot(ctx)
		if err != nil {
			return tableErr(ctx, tbl, err)
		}
		return WriteDetail(out, snap.Detail(), snap.Protocol(), cfg.JSON)
	case config.CommandOptimize:
		return optimize(ctx, tbl, cfg.Optimize, log, out)
	case config.CommandVacuum:
		return vacuum(ctx, tbl, cfg.Vacuum, log, out)
	}
	return fmt.Errorf("%s is not a maintenance command", cfg.Command)
}

// table is a Delta table and the store and root it lives at.
type table struct {
	*delta.Table
	store lake.Store
	root  string
}

// openTable returns the Delta table cfg.Table names: a table URL
// (s3://bucket/path, file:///abs/path: the table is the store's root), or a
// path in the lake cfg.Lake names. It does not touch the store.
func openTable(ctx context.Context, cfg config.Config) (*table, error) {
	if cfg.TableIsURL() {
		store, err := lake.Open(ctx, cfg.Table, cfg.S3)
		if err != nil {
			return nil, err
		}
		return &table{Table: delta.NewTable(store, ""), store: store}, nil
	}
	store, err := lake.Open(ctx, cfg.Lake, cfg.S3)
	if err != nil {
		return nil, err
	}
	return &table{Table: delta.NewTable(store, cfg.Table), store: store, root: cfg.Table}, nil
}

// tableErr words a failure to read the table: a directory without a Delta
// log is named as such, and one holding an earlier sensorlab's private log
// is refused with what to do (consolidate.CheckNotLegacy).
func tableErr(ctx context.Context, t *table, err error) error {
	if !errors.Is(err, delta.ErrNotATable) {
		return err
	}
	if lerr := consolidate.CheckNotLegacy(ctx, t.store, t.root); lerr != nil {
		return lerr
	}
	return fmt.Errorf("%s is not a Delta table: it has no _delta_log/", t.Location())
}

// optimize runs OPTIMIZE: bin-packing of the small files of the partitions
// the filter selects, in one commit.
func optimize(ctx context.Context, t *table, o config.Optimize, log *slog.Logger, out io.Writer) error {
	snap, err := t.Snapshot(ctx)
	if err != nil {
		return tableErr(ctx, t, err)
	}
	where, err := delta.ParsePartitionFilter(snap.Metadata(), o.Where)
	if err != nil {
		return fmt.Errorf("--where %q: %w", o.Where, err)
	}
	res, err := t.Optimize(ctx, delta.OptimizeOptions{Where: where, Predicate: o.Where, TargetFileSize: o.TargetFileSize, MinFiles: o.MinFiles})
	if err != nil {
		return fmt.Errorf("optimize %s: %w", t.Location(), err)
	}
	if res.PostCommitErr != nil {
		log.Warn("checkpoint or log cleanup after the commit failed; the commit stands", "err", res.PostCommitErr)
	}
	m := res.Metrics
	log.Info("optimize done", "table", t.Location(), "version", res.Version, "partitions", res.Partitions,
		"files_removed", res.FilesRemoved, "bytes_removed", res.BytesRemoved,
		"files_added", res.FilesAdded, "bytes_added", res.BytesAdded,
		"files_considered", m.TotalConsideredFiles, "files_skipped", m.TotalFilesSkipped,
		"rows_copied", m.NumRowsCopied, "duration_ms", m.EndTime.Sub(m.StartTime).Milliseconds())
	return WriteOptimize(out, t.Location(), res)
}
