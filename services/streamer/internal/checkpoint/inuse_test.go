package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/sensorlab/sensorlab/lake"
)

func openRun(t *testing.T, st lake.Store, runID string) *Checkpoint {
	t.Helper()
	cp, err := Open(context.Background(), st, WithRunID(runID))
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// wantInUse checks that err is the clear refusal a user must see.
func wantInUse(t *testing.T, err error, st lake.Store, what string, batch string, otherRun string) {
	t.Helper()
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("err = %v, want ErrInUse", err)
	}
	want := []string{"checkpoint " + st.String(), "in use by another streamer", what + " for batch " + batch, "--checkpoint"}
	if otherRun != "" {
		want = append(want, "written by another process (run "+otherRun+")")
	}
	for _, s := range want {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

// Two streamers on one checkpoint: whoever writes a batch's offsets or
// commit second stops, and what the first wrote stays.
func TestASecondWriterIsRefused(t *testing.T) {
	forEachStore(t, storeKinds(t), func(t *testing.T, st lake.Store) {
		ctx := context.Background()
		a, b := openRun(t, st, "run-a"), openRun(t, st, "run-b")
		run(t, a, 0, 2)
		if err := a.WriteOffsets(ctx, entry(2)); err != nil {
			t.Fatal(err)
		}
		stored := get(t, st, OffsetsKey(2))

		// b planned batch 2 too (its timestamp differs: it planned it later).
		e := entry(2)
		e.BatchTimestampMs += 3
		wantInUse(t, b.WriteOffsets(ctx, e), st, "offsets", "2", "run-a")
		if !bytes.Equal(get(t, st, OffsetsKey(2)), stored) {
			t.Fatal("the refused writer replaced the offsets entry")
		}

		// b re-ran batch 1 as a recovery would, and lost the race to its commit.
		committed := get(t, st, CommitKey(1))
		wantInUse(t, b.WriteCommit(ctx, commit(1)), st, "the commit", "1", "run-a")
		if !bytes.Equal(get(t, st, CommitKey(1)), committed) {
			t.Fatal("the refused writer replaced the commit")
		}
		wantResume(t, recoverOK(t, openRun(t, st, "run-c")), 1, 2)
	})
}

// A write whose response was lost is retried and finds its own bytes: that
// is not a second writer.
func TestARetryFindingItsOwnWriteSucceeds(t *testing.T) {
	ctx := context.Background()
	st := fileStore(t)
	cp := openRun(t, st, "run-a")
	for range 2 {
		if err := cp.WriteOffsets(ctx, entry(0)); err != nil {
			t.Fatalf("rewriting the same offsets: %v", err)
		}
	}
	if err := cp.WriteState(ctx, 0, snapshot(0)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := cp.WriteCommit(ctx, commit(0)); err != nil {
			t.Fatalf("rewriting the same commit: %v", err)
		}
	}
	// The same run with other content is a bug or another process: refused.
	e := entry(0)
	e.WatermarkMs++
	if err := cp.WriteOffsets(ctx, e); !errors.Is(err, ErrInUse) {
		t.Fatalf("other offsets under the same key: err = %v, want ErrInUse", err)
	}
}

// Recovery that falls back past a damaged commit re-runs its batch, whose
// commit then replaces the damaged file; that is not a second writer.
func TestTheReRunOfABatchRecoveryFellBackPastReplacesItsCommit(t *testing.T) {
	forEachStore(t, storeKinds(t), func(t *testing.T, st lake.Store) {
		ctx := context.Background()
		run(t, openRun(t, st, "run-a"), 0, 3)
		b := get(t, st, CommitKey(2))
		put(t, st, CommitKey(2), b[:len(b)/2])

		// Another process that did not recover must not replace it.
		wantInUse(t, openRun(t, st, "run-x").WriteCommit(ctx, commit(2)), st, "the commit", "2", "")

		cp := openRun(t, st, "run-b")
		wantResume(t, recoverOK(t, cp), 1, 2)
		if err := cp.WriteState(ctx, 2, snapshot(2)); err != nil {
			t.Fatal(err)
		}
		if err := cp.WriteCommit(ctx, commit(2)); err != nil {
			t.Fatalf("the re-run's commit: %v", err)
		}
		wantResume(t, recoverOK(t, openRun(t, st, "run-c")), 2)
		// Only once: a later write of that commit is a second writer again.
		c := commit(2)
		c.NumOutputRows++
		if err := cp.WriteCommit(ctx, c); !errors.Is(err, ErrInUse) {
			t.Fatalf("a second replacement: err = %v, want ErrInUse", err)
		}
	})
}

// racyStore hides metadata.json from the first Get, as when two streamers
// start on an empty checkpoint and both find none.
type racyStore struct {
	lake.Store
	mu     sync.Mutex
	hidden bool
}

func (s *racyStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	hide := key == MetadataKey && !s.hidden
	s.hidden = s.hidden || hide
	s.mu.Unlock()
	if hide {
		return nil, lake.ErrNotExist
	}
	return s.Store.Get(ctx, key)
}

func TestTwoStreamersStartingOnAnEmptyCheckpointShareOneQueryID(t *testing.T) {
	ctx := context.Background()
	st := fileStore(t)
	first, err := open(t, st).InitMetadata(ctx, shape)
	if err != nil {
		t.Fatal(err)
	}
	want := shape
	want.ID = "3f1c2a7e-0000-4000-8000-000000000000"
	second, err := open(t, &racyStore{Store: st}).InitMetadata(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID {
		t.Fatalf("the second streamer took query id %s, the first %s: their txn ids would differ and a batch could be appended twice",
			second.ID, first.ID)
	}
}

// Recovery says which runs wrote the newest offsets entry and commit: how a
// restarting process learns that another one wrote batches meanwhile.
func TestRecoverySaysWhoWroteTheNewestBatch(t *testing.T) {
	st := fileStore(t)
	run(t, openRun(t, st, "run-a"), 0, 2)
	if err := openRun(t, st, "run-b").WriteOffsets(context.Background(), entry(2)); err != nil {
		t.Fatal(err)
	}
	rec := recoverOK(t, openRun(t, st, "run-c"))
	if rec.CommitRunID != "run-a" || rec.OffsetsRunID != "run-b" {
		t.Fatalf("commit written by %q, offsets by %q; want run-a and run-b", rec.CommitRunID, rec.OffsetsRunID)
	}
}
