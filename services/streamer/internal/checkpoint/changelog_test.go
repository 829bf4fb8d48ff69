package checkpoint

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

func changelog(id int64) []byte { return []byte(fmt.Sprintf("changes of batch %d", id)) }

// runChangelogs writes batches [from, to), a snapshot every `every` batches
// (batch ids divisible by it) and a changelog otherwise, every other one
// built in place in one buffer kept across batches (WriteStateFile).
func runChangelogs(t *testing.T, cp *Checkpoint, from, to, every int64) {
	t.Helper()
	ctx := context.Background()
	var file []byte
	for id := from; id < to; id++ {
		if err := cp.WriteOffsets(ctx, entry(id)); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case id%every == 0:
			err = cp.WriteState(ctx, id, snapshot(id))
		case id%2 == 0:
			file = append(file[:0], make([]byte, StateFileHeader)...)
			file, err = cp.WriteStateFile(ctx, id, false, append(file, changelog(id)...))
		default:
			err = cp.WriteStateChangelog(ctx, id, changelog(id))
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := cp.WriteCommit(ctx, commit(id)); err != nil {
			t.Fatal(err)
		}
	}
}

// wantChain checks that rec's state is batch snap's snapshot followed by
// the changelogs of batches snap+1 … last.
func wantChain(t *testing.T, rec Recovery, snap, last int64) {
	t.Helper()
	if rec.LastCommit == nil || rec.LastCommit.BatchID != last {
		t.Fatalf("resumes from %+v, want batch %d (notes %q)", rec.LastCommit, last, rec.Notes)
	}
	if !bytes.Equal(rec.State, snapshot(snap)) {
		t.Errorf("state starts from %q, want the snapshot of batch %d", rec.State, snap)
	}
	if len(rec.Changelogs) != int(last-snap) {
		t.Fatalf("%d changelogs, want %d (batches %d..%d)", len(rec.Changelogs), last-snap, snap+1, last)
	}
	for i, c := range rec.Changelogs {
		if want := changelog(snap + 1 + int64(i)); !bytes.Equal(c, want) {
			t.Errorf("changelog %d is %q, want %q", i, c, want)
		}
	}
}

// Recovery rebuilds a batch's state from the newest snapshot under it and
// the changelogs after it, in order; a damaged or missing link makes it fall
// back to an older batch whose chain is whole, and re-run the rest.
func TestRecoverChangelogChain(t *testing.T) {
	ctx := context.Background()
	t.Run("whole chain", func(t *testing.T) {
		st := fileStore(t)
		runChangelogs(t, open(t, st), 0, 8, 5)
		wantChain(t, recoverOK(t, open(t, st)), 5, 7)
	})
	t.Run("snapshot is the last batch", func(t *testing.T) {
		st := fileStore(t)
		runChangelogs(t, open(t, st), 0, 6, 5)
		wantChain(t, recoverOK(t, open(t, st)), 5, 5)
	})
	t.Run("damaged middle changelog", func(t *testing.T) {
		st := fileStore(t)
		runChangelogs(t, open(t, st), 0, 9, 5)
		b := get(t, st, ChangelogKey(7))
		b[len(b)-1] ^= 1
		put(t, st, ChangelogKey(7), b)
		rec := recoverOK(t, open(t, st))
		wantChain(t, rec, 5, 6)
		wantReplay(t, rec, 7, 8)
		wantNote(t, rec, "cannot resume from batch 8")
	})
	t.Run("missing snapshot under the chain", func(t *testing.T) {
		st := fileStore(t)
		runChangelogs(t, open(t, st), 0, 8, 5)
		del(t, st, StateKey(5))
		rec := recoverOK(t, open(t, st))
		// Batches 5..7 all need snapshot 5: resume from 4, whose chain is 0..4.
		wantChain(t, rec, 0, 4)
		wantReplay(t, rec, 5, 6, 7)
		wantNote(t, rec, "cannot resume from batch 7: the state of batch 7 is a changelog over batch 5's, and "+StateKey(5)+" is missing: falling back to an older batch")
	})
	t.Run("changelog written but not committed", func(t *testing.T) {
		st := fileStore(t)
		cp := open(t, st)
		runChangelogs(t, cp, 0, 4, 5)
		if err := cp.WriteOffsets(ctx, entry(4)); err != nil {
			t.Fatal(err)
		}
		if err := cp.WriteStateChangelog(ctx, 4, changelog(4)); err != nil {
			t.Fatal(err)
		}
		rec := recoverOK(t, open(t, st))
		wantChain(t, rec, 0, 3)
		wantReplay(t, rec, 4)
	})
}

// Purge keeps every state file the kept batches are rebuilt from: after a
// purge that keeps 2 batches, the newest batch's chain is still whole, and
// files no kept batch needs are gone.
func TestPurgeKeepsTheChangelogChain(t *testing.T) {
	ctx := context.Background()
	st := fileStore(t)
	cp := open(t, st)
	runChangelogs(t, cp, 0, 13, 5) // snapshots 0, 5, 10
	if err := cp.Purge(ctx, 2); err != nil {
		t.Fatal(err)
	}
	wantChain(t, recoverOK(t, open(t, st)), 10, 12)
	for _, key := range []string{StateKey(0), StateKey(5), ChangelogKey(9), CommitKey(10), OffsetsKey(10)} {
		if _, err := st.Get(ctx, key); err == nil {
			t.Errorf("%s survived the purge", key)
		}
	}
	// With keep 4 the oldest kept batch is 9, built from snapshot 5: the
	// chain 5..9 must stay.
	st = fileStore(t)
	cp = open(t, st)
	runChangelogs(t, cp, 0, 13, 5)
	if err := cp.Purge(ctx, 4); err != nil {
		t.Fatal(err)
	}
	for id := int64(6); id <= 9; id++ {
		if _, err := st.Get(ctx, ChangelogKey(id)); err != nil {
			t.Errorf("%s was purged, but kept batch 9's state needs it: %v", ChangelogKey(id), err)
		}
	}
	if _, err := st.Get(ctx, StateKey(5)); err != nil {
		t.Errorf("snapshot 5 was purged, but kept batch 9's state needs it: %v", err)
	}
	if _, err := st.Get(ctx, StateKey(0)); err == nil {
		t.Errorf("snapshot 0 survived, but no kept batch needs it")
	}
}

// The note for a batch whose own state file is gone names the file, in the
// words operators (and the fault harness) look for.
func TestRecoverNotesAMissingStateFile(t *testing.T) {
	st := fileStore(t)
	run(t, open(t, st), 0, 4)
	del(t, st, StateKey(3))
	rec := recoverOK(t, open(t, st))
	wantResume(t, rec, 2, 3)
	wantNote(t, rec, "cannot resume from batch 3: "+StateKey(3)+" is missing: falling back to an older batch")
}
