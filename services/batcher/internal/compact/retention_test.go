package compact

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/services/batcher/internal/consolidate"
)

// logKeys lists the sink log: its entries, and its other keys (checkpoints,
// the retention marker).
func logKeys(t *testing.T, s lake.Store) (entries, others []string) {
	t.Helper()
	objs, err := s.List(context.Background(), contract.SinkLogPrefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if _, _, ok := contract.ParseSinkLogKey(o.Key); ok {
			entries = append(entries, o.Key)
		} else {
			others = append(others, o.Key)
		}
	}
	return entries, others
}

func committed(t *testing.T, s lake.Store) []contract.SinkFile {
	t.Helper()
	files, err := lake.CommittedStreamFiles(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// streamerSkips is what the streamer's sink does when recovery re-runs a
// batch: it looks the batch's own entry up, and skips the batch if it
// exists (services/streamer/internal/sink.ParquetSink.WriteBatch).
func streamerSkips(t *testing.T, s lake.Store, batch int64) bool {
	t.Helper()
	data, err := s.Get(context.Background(), contract.SinkLogKey(streamQuery, batch))
	if errors.Is(err, lake.ErrNotExist) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	var e contract.SinkLogEntry
	if err := json.Unmarshal(data, &e); err != nil || e.QueryID != streamQuery || e.BatchID != batch || len(e.Files) == 0 {
		t.Fatalf("entry %s#%d: %+v, %v", streamQuery, batch, e, err)
	}
	return true
}

// TestLogRetention: with --grace 0 a run deletes every entry its checkpoint
// covers but the newest of each query; the committed files and the
// consolidation are exactly what they were before, the streamer's re-run of
// its newest batch still finds that batch's entry, and the log keeps
// working: later batches, compactions and runs stay exact.
func TestLogRetention(t *testing.T) {
	ctx := context.Background()
	s := fileLake(t)
	st := &streamer{s: s}
	for range 12 {
		st.commitBatch(t, day0, 5)
	}
	o := opts()
	o.LogRetention = false
	res, err := Run(ctx, s, o)
	if err != nil || res.Partitions != 1 || res.Checkpoint == "" || res.LogEntriesDeleted != 0 {
		t.Fatalf("run without retention: %+v, %v", res, err)
	}
	entries, _ := logKeys(t, s)
	if len(entries) != 14 {
		t.Fatalf("without retention %d entries, want the 14 written", len(entries))
	}
	wantFiles := committed(t, s)
	wantView := logView(t, s)
	wantBatch, err := consolidate.Run(ctx, s, 0)
	if err != nil {
		t.Fatal(err)
	}

	// Nothing to compact; the checkpoint is older than grace 0: retention.
	res, err = Run(ctx, s, opts())
	if err != nil {
		t.Fatal(err)
	}
	if res.Partitions != 0 || res.Checkpoint != "" || res.LogEntriesDeleted != 12 {
		t.Fatalf("run with retention: %+v; want 12 entries deleted (14 but the newest of the streamer and of compaction)", res)
	}
	entries, others := logKeys(t, s)
	if want := []string{contract.SinkLogKey(streamQuery, 11), contract.SinkLogKey(QueryID, 1)}; !slices.Equal(entries, want) {
		t.Fatalf("entries left %q, want %q", entries, want)
	}
	if want := []string{contract.SinkLogCheckpointKey(0), contract.SinkLogTrimmedKey}; !slices.Equal(others, want) {
		t.Fatalf("other log keys %q, want %q", others, want)
	}
	if got := committed(t, s); !slices.Equal(got, wantFiles) {
		t.Fatalf("committed files after retention:\n%+v\nbefore:\n%+v", got, wantFiles)
	}
	after, err := consolidate.Run(ctx, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	sameBatchRows(t, wantBatch.Rows, after.Rows)
	if after.LogCheckpointErr != nil || after.Files != wantBatch.Files {
		t.Fatalf("the batcher after retention: %d files, err %v; want %d", after.Files, after.LogCheckpointErr, wantBatch.Files)
	}
	if !streamerSkips(t, s, 11) {
		t.Fatal("the streamer's newest batch lost its entry: a re-run would write it again")
	}
	if streamerSkips(t, s, 12) {
		t.Fatal("batch 12 was never written")
	}
	var m contract.SinkLogTrimmed
	data, err := s.Get(ctx, contract.SinkLogTrimmedKey)
	if err != nil || json.Unmarshal(data, &m) != nil || m.Queries[streamQuery] != 10 || m.Queries[QueryID] != 0 {
		t.Fatalf("marker %s: %+v, %v; want %s#10 and %s#0", data, m, err, streamQuery, QueryID)
	}
	if _, err := lake.ReadSinkLog(ctx, s); !errors.Is(err, lake.ErrSinkLogTrimmed) {
		t.Fatalf("ReadSinkLog of a trimmed log: %v", err)
	}

	// The log keeps working: more batches (one into the compacted day, and
	// a new day to compact), a run that compacts and trims again.
	for range 6 {
		st.commitBatch(t, day0.Add(24*time.Hour), 5)
	}
	want := logView(t, s)
	for id := range wantView {
		if want[id] != 1 {
			t.Fatalf("row %s lost", id)
		}
	}
	res, err = Run(ctx, s, opts())
	if err != nil || res.Partitions != 1 || res.Checkpoint == "" || res.LogEntriesDeleted == 0 {
		t.Fatalf("next run: %+v, %v", res, err)
	}
	checkReaders(t, s, want, "after the next run")
	entries, _ = logKeys(t, s)
	if want := []string{contract.SinkLogKey(streamQuery, 17), contract.SinkLogKey(QueryID, 3)}; !slices.Equal(entries, want) {
		t.Fatalf("entries left %q, want %q", entries, want)
	}
	if !streamerSkips(t, s, 17) {
		t.Fatal("the streamer's newest batch lost its entry")
	}
	if sl := loadLog(t, s); sl.Checkpoint.Version != contract.SinkLogCheckpointVersion || len(sl.Checkpoint.Removed) != 0 {
		t.Fatalf("checkpoint %+v: want version 2, every tombstone pruned", sl.Checkpoint)
	}
}

// TestLogRetentionOff: --log-retention=false deletes no entry and writes no
// marker.
func TestLogRetentionOff(t *testing.T) {
	ctx := context.Background()
	s := fileLake(t)
	st := &streamer{s: s}
	for range 12 {
		st.commitBatch(t, day0, 2)
	}
	o := opts()
	o.LogRetention = false
	for range 3 {
		if res, err := Run(ctx, s, o); err != nil || res.LogEntriesDeleted != 0 {
			t.Fatalf("run: %+v, %v", res, err)
		}
		st.commitBatch(t, day0, 2)
	}
	entries, others := logKeys(t, s)
	if len(entries) != 12+2+3 || slices.Contains(others, contract.SinkLogTrimmedKey) {
		t.Fatalf("entries %d (want 17), other keys %q", len(entries), others)
	}
	logView(t, s)
}

// TestLogRetentionWaitsForGrace: entries are deleted only once a checkpoint
// that covers them has existed for Grace.
func TestLogRetentionWaitsForGrace(t *testing.T) {
	ctx := context.Background()
	s := fileLake(t)
	st := &streamer{s: s}
	for range 4 {
		st.commitBatch(t, day0, 2)
	}
	o := opts()
	o.MinFiles = 1000
	o.Grace = time.Hour
	if res, err := Run(ctx, s, o); err != nil || res.Checkpoint == "" || res.LogEntriesDeleted != 0 {
		t.Fatalf("run with a fresh checkpoint: %+v, %v; want it written, nothing deleted", res, err)
	}
	if entries, _ := logKeys(t, s); len(entries) != 4 {
		t.Fatalf("%d entries left, want 4", len(entries))
	}
}

// TestTrimmedLogWithADamagedCheckpoint: on a trimmed log, a damaged latest
// checkpoint makes readers fall back to the previous one if it covers every
// deleted entry, and fail clearly otherwise: never a consolidation of part
// of the log. The next compaction run repairs the first case.
func TestTrimmedLogWithADamagedCheckpoint(t *testing.T) {
	ctx := context.Background()
	damage := func(t *testing.T, s lake.Store) {
		sl := loadLog(t, s)
		if err := s.Put(ctx, sl.CheckpointKey, []byte(`{"version":2,`)); err != nil {
			t.Fatal(err)
		}
	}
	setup := func(t *testing.T) (lake.Store, *streamer) {
		s := fileLake(t)
		st := &streamer{s: s}
		for range 12 {
			st.commitBatch(t, day0, 3)
		}
		if res, err := Run(ctx, s, opts()); err != nil || res.LogEntriesDeleted == 0 {
			t.Fatalf("first run: %+v, %v; want a compaction and retention", res, err)
		}
		return s, st
	}
	t.Run("the previous checkpoint covers the deleted entries", func(t *testing.T) {
		s, st := setup(t)
		for range 3 {
			st.commitBatch(t, day0.Add(24*time.Hour), 3)
		}
		o := opts()
		o.MinFiles = 1000
		o.Grace = time.Hour // checkpoint 1, no deletion of checkpoint 0 nor of entries
		if res, err := Run(ctx, s, o); err != nil || res.Checkpoint != contract.SinkLogCheckpointKey(1) || res.LogEntriesDeleted != 0 || res.CheckpointsDeleted != 0 {
			t.Fatalf("second run: %+v, %v", res, err)
		}
		want := logView(t, s)
		wantFiles := committed(t, s)
		wantBatch, err := consolidate.Run(ctx, s, 0)
		if err != nil {
			t.Fatal(err)
		}
		damage(t, s)
		sl, err := lake.LoadSinkLog(ctx, s)
		if err != nil || sl.CheckpointKey != contract.SinkLogCheckpointKey(0) || sl.CheckpointErr == nil {
			t.Fatalf("readers: %v, %v; want checkpoint 0 used and the damage reported", sl, err)
		}
		if got := sl.Committed(); !slices.Equal(got, wantFiles) {
			t.Fatalf("fallback folds to\n%+v\nwant\n%+v", got, wantFiles)
		}
		got, err := consolidate.Run(ctx, s, 0)
		if err != nil || got.LogCheckpointErr == nil {
			t.Fatalf("the batcher with a damaged checkpoint: %v, %v", got.LogCheckpointErr, err)
		}
		sameBatchRows(t, wantBatch.Rows, got.Rows)
		// The next run writes checkpoint 2 on checkpoint 0, deletes the
		// damaged one and checkpoint 0 (grace 0), and trims again.
		res, err := Run(ctx, s, opts())
		if err != nil || res.Checkpoint != contract.SinkLogCheckpointKey(2) || res.CheckpointsDeleted != 2 || res.LogEntriesDeleted == 0 {
			t.Fatalf("repair run: %+v, %v", res, err)
		}
		checkReaders(t, s, want, "after the repair")
		if _, others := logKeys(t, s); !slices.Equal(others, []string{contract.SinkLogCheckpointKey(2), contract.SinkLogTrimmedKey}) {
			t.Fatalf("log keys %q", others)
		}
	})
	t.Run("no checkpoint covers them", func(t *testing.T) {
		s, _ := setup(t)
		damage(t, s)
		if _, err := consolidate.Run(ctx, s, 0); !errors.Is(err, lake.ErrSinkLogTrimmed) {
			t.Fatalf("the batcher on a trimmed log without a usable checkpoint: %v, want ErrSinkLogTrimmed", err)
		}
		if _, err := Run(ctx, s, opts()); !errors.Is(err, lake.ErrSinkLogTrimmed) {
			t.Fatalf("compact on a trimmed log without a usable checkpoint: %v, want ErrSinkLogTrimmed", err)
		}
	})
}

// TestRunOnATrimmedLogRefusesToSearchPartOfIt: when a checkpoint covers the
// entry of an unfinished compaction (which the compactor never writes, but a
// second compactor or a hand-run tool might), the run looks for that entry
// in the whole log; on a trimmed log it fails with ErrSinkLogTrimmed instead
// of searching what is left.
func TestRunOnATrimmedLogRefusesToSearchPartOfIt(t *testing.T) {
	ctx := context.Background()
	s := fileLake(t)
	st := &streamer{s: s}
	for range 6 {
		st.commitBatch(t, day0, 3)
	}
	if res, err := Run(ctx, s, opts()); err != nil || res.LogEntriesDeleted == 0 {
		t.Fatalf("first run: %+v, %v; want a compaction and retention", res, err)
	}
	for range 6 {
		st.commitBatch(t, day0.Add(24*time.Hour), 3)
	}
	// Crash right after the next stage entry (compaction batch 2).
	_, err := Run(ctx, &hookStore{Store: s, before: func(string, string) error { return nil },
		failAfter: func(op, key string) error {
			if key == contract.SinkLogKey(QueryID, 2) {
				return errCrash
			}
			return nil
		}}, opts())
	if !errors.Is(err, errCrash) {
		t.Fatalf("run: %v, want the simulated crash", err)
	}
	if _, _, err := lake.WriteSinkLogCheckpoint(ctx, s, loadLog(t, s)); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, s, opts()); !errors.Is(err, lake.ErrSinkLogTrimmed) || !strings.Contains(err.Error(), "not the whole log") {
		t.Fatalf("run: %v, want ReadSinkLog's ErrSinkLogTrimmed", err)
	}
}
