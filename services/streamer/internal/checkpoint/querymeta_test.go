package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// A query file's checkpoint records its queries; UpdateMetadata replaces
// the list and keeps the id, and a reopen reads it back. A specialised
// checkpoint is refused by a query-file run (and the other way round).
func TestQueryFileMetadata(t *testing.T) {
	ctx := context.Background()
	st := fileStore(t)
	qshape := Metadata{Topic: "events", OutputMode: QueryFileMode,
		Queries: []QueryMeta{{Name: "stream", ID: "3f1c2a7e-0000-4000-8000-000000000001", Fingerprint: "fp1"}}}
	created, err := open(t, st).InitMetadata(ctx, qshape)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(created.Queries, qshape.Queries) {
		t.Fatalf("created with queries %+v, want %+v", created.Queries, qshape.Queries)
	}
	more := append(created.Queries, QueryMeta{Name: "alerts", ID: "3f1c2a7e-0000-4000-8000-000000000002", Fingerprint: "fp2"})
	if _, err := open(t, st).UpdateMetadata(ctx, created, more); err != nil {
		t.Fatal(err)
	}
	// A reopen with another query list is not refused by InitMetadata: the
	// driver compares queries one by one.
	got, err := open(t, st).InitMetadata(ctx, Metadata{Topic: "events", OutputMode: QueryFileMode})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != created.ID || !reflect.DeepEqual(got.Queries, more) {
		t.Fatalf("reopened %+v, want id %s and queries %+v", got, created.ID, more)
	}
	_, err = open(t, st).InitMetadata(ctx, Metadata{Topic: "events", OutputMode: "append"})
	if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "output-mode="+QueryFileMode) {
		t.Fatalf("a specialised run on a query file's checkpoint: err = %v, want ErrIncompatible naming the mode", err)
	}
}

// A batch whose first run wrote a changelog and whose re-run wrote a
// snapshot is restored from the snapshot alone.
func TestRecoverPrefersTheSnapshotOfABatchWithBoth(t *testing.T) {
	ctx := context.Background()
	cp := open(t, fileStore(t))
	runChangelogs(t, cp, 0, 3, 10) // snapshot 0, changelogs 1 and 2
	if err := cp.WriteState(ctx, 2, snapshot(2)); err != nil {
		t.Fatal(err)
	}
	rec := recoverOK(t, cp)
	if !bytes.Equal(rec.State, snapshot(2)) || len(rec.Changelogs) != 0 {
		t.Fatalf("state %q with %d changelogs, want batch 2's snapshot alone", rec.State, len(rec.Changelogs))
	}
}
