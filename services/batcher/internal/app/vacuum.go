package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/services/batcher/internal/config"
)

// vacuum runs VACUUM: it deletes the table's files no snapshot within the
// retention needs (and files no commit ever added), and prints each file
// deleted, or with --dry-run each file it would delete, one per line.
// A retention below the table's without --force is refused
// (delta.ErrRetentionTooShort), with both durations in the message.
func vacuum(ctx context.Context, t *table, o config.Vacuum, log *slog.Logger, out io.Writer) error {
	if _, err := t.Snapshot(ctx); err != nil {
		return tableErr(ctx, t, err)
	}
	res, err := t.Vacuum(ctx, delta.VacuumOptions{Retention: o.Retain, Force: o.Force, DryRun: o.DryRun})
	if errors.Is(err, delta.ErrRetentionTooShort) {
		return fmt.Errorf("vacuum %s: %w (batcher vacuum --force)", t.Location(), err)
	}
	if err != nil {
		return fmt.Errorf("vacuum %s: %w", t.Location(), err)
	}
	for _, f := range res.Files {
		if _, err := fmt.Fprintln(out, f); err != nil {
			return err
		}
	}
	msg := "vacuum done"
	if res.DryRun {
		msg = "vacuum dry run: nothing deleted"
	}
	log.Info(msg, "table", t.Location(), "files", len(res.Files), "bytes", res.Bytes,
		"retention", res.Retention.String(), "delete_before", res.DeleteBefore, "directories", res.Directories,
		"start_version", res.StartVersion, "end_version", res.EndVersion)
	return nil
}
