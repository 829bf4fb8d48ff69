package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/laketest"
)

// storeKind opens a fresh, empty store for each call.
type storeKind struct {
	name string
	open func(t *testing.T) lake.Store
}

func fileStore(t *testing.T) lake.Store {
	st, err := lake.Open(context.Background(), "file://"+t.TempDir(), lake.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// storeKinds starts one real MinIO for the calling test; each store it opens
// there lives under a prefix of its own.
func storeKinds(t *testing.T) []storeKind {
	m := laketest.StartMinIO(t)
	m.CreateBucket(t, "checkpoint")
	var n atomic.Int64
	return []storeKind{
		{"file", fileStore},
		{"minio", func(t *testing.T) lake.Store {
			return m.Open(t, fmt.Sprintf("s3://checkpoint/query-%d", n.Add(1)))
		}},
	}
}

// forEachStore runs fn against a checkpoint on local files and on MinIO.
func forEachStore(t *testing.T, kinds []storeKind, fn func(t *testing.T, st lake.Store)) {
	t.Helper()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) { fn(t, k.open(t)) })
	}
}

func open(t *testing.T, st lake.Store) *Checkpoint {
	t.Helper()
	cp, err := Open(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// entry plans batch id reading 10 records from each of 3 partitions, after prev.
func entry(id int64) OffsetsEntry {
	e := OffsetsEntry{BatchID: id, BatchTimestampMs: 1732200000000 + id*1000, WatermarkMs: 1732199940000 + id*500,
		Topic: "eventos_sensores", Start: map[int32]int64{}, End: map[int32]int64{}}
	for p := int32(0); p < 3; p++ {
		e.Start[p], e.End[p] = id*10, id*10+10
	}
	return e
}

func snapshot(id int64) []byte { return []byte(fmt.Sprintf("state after batch %d", id)) }

func commit(id int64) CommitEntry {
	return CommitEntry{BatchID: id, NextWatermarkMs: entry(id + 1).WatermarkMs, NumInputRows: 30, NumOutputRows: id,
		CommittedAt: time.Date(2024, 11, 21, 14, 40, 0, 0, time.UTC)}
}

// run writes what the streamer writes for batches [from, to), in protocol order.
func run(t *testing.T, cp *Checkpoint, from, to int64) {
	t.Helper()
	ctx := context.Background()
	for id := from; id < to; id++ {
		if err := cp.WriteOffsets(ctx, entry(id)); err != nil {
			t.Fatal(err)
		}
		if err := cp.WriteState(ctx, id, snapshot(id)); err != nil {
			t.Fatal(err)
		}
		if err := cp.WriteCommit(ctx, commit(id)); err != nil {
			t.Fatal(err)
		}
	}
}

func recoverOK(t *testing.T, cp *Checkpoint) Recovery {
	t.Helper()
	rec, err := cp.Recover(context.Background())
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	return rec
}

// wantResume checks that rec resumes from committed batch base with replay batches.
func wantResume(t *testing.T, rec Recovery, base int64, replay ...int64) {
	t.Helper()
	if rec.LastCommit == nil || rec.LastCommit.BatchID != base {
		t.Fatalf("resumes from commit %+v, want batch %d (notes %q)", rec.LastCommit, base, rec.Notes)
	}
	if !reflect.DeepEqual(*rec.LastCommit, commit(base)) {
		t.Errorf("commit read back as %+v, want %+v", *rec.LastCommit, commit(base))
	}
	if !bytes.Equal(rec.State, snapshot(base)) {
		t.Errorf("state %q, want %q", rec.State, snapshot(base))
	}
	wantReplay(t, rec, replay...)
}

func wantReplay(t *testing.T, rec Recovery, replay ...int64) {
	t.Helper()
	if len(rec.Replay) != len(replay) {
		t.Fatalf("replays %d batches, want %v (notes %q)", len(rec.Replay), replay, rec.Notes)
	}
	for i, id := range replay {
		if !reflect.DeepEqual(rec.Replay[i], entry(id)) {
			t.Errorf("replay[%d] = %+v, want the recorded %+v", i, rec.Replay[i], entry(id))
		}
	}
	last := int64(-1)
	if rec.LastCommit != nil {
		last = rec.LastCommit.BatchID
	}
	if len(replay) > 0 {
		last = replay[len(replay)-1]
	}
	if rec.LastOffsets == nil || !reflect.DeepEqual(*rec.LastOffsets, entry(last)) {
		t.Errorf("LastOffsets = %+v, want batch %d's entry", rec.LastOffsets, last)
	}
}

func wantNote(t *testing.T, rec Recovery, substr string) {
	t.Helper()
	for _, n := range rec.Notes {
		if strings.Contains(n, substr) {
			return
		}
	}
	t.Errorf("no note mentions %q: %q", substr, rec.Notes)
}

func wantDamaged(t *testing.T, err error, substrs ...string) {
	t.Helper()
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("err = %v, want ErrDamaged", err)
	}
	for _, s := range append(substrs, "--checkpoint") {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func put(t *testing.T, st lake.Store, key string, data []byte) {
	t.Helper()
	if err := st.Put(context.Background(), key, data); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, st lake.Store, key string) []byte {
	t.Helper()
	b, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func del(t *testing.T, st lake.Store, key string) {
	t.Helper()
	if err := st.Delete(context.Background(), key); err != nil {
		t.Fatal(err)
	}
}

func TestRecover(t *testing.T) {
	kinds := storeKinds(t)
	forEachStore(t, kinds, func(t *testing.T, st lake.Store) {
		t.Run("fresh checkpoint is a new query", func(t *testing.T) {
			rec := recoverOK(t, open(t, st))
			if rec.LastCommit != nil || rec.State != nil || rec.Replay != nil || rec.LastOffsets != nil {
				t.Fatalf("a fresh checkpoint recovered %+v", rec)
			}
			wantNote(t, rec, "new query")
		})
	})
	cases := []struct {
		name string
		// damage runs batches and damages the checkpoint; check inspects Recover's answer.
		damage func(t *testing.T, cp *Checkpoint, st lake.Store)
		check  func(t *testing.T, rec Recovery, err error)
	}{
		{"normal sequence resumes after the last commit",
			func(t *testing.T, cp *Checkpoint, _ lake.Store) { run(t, cp, 0, 3) },
			func(t *testing.T, rec Recovery, err error) {
				if err != nil {
					t.Fatal(err)
				}
				wantResume(t, rec, 2)
				wantNote(t, rec, "resuming from committed batch 2")
			}},
		{"crash after offsets replays that batch",
			func(t *testing.T, cp *Checkpoint, _ lake.Store) {
				run(t, cp, 0, 2)
				if err := cp.WriteOffsets(context.Background(), entry(2)); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, rec Recovery, err error) {
				if err != nil {
					t.Fatal(err)
				}
				wantResume(t, rec, 1, 2)
			}},
		{"crash after state before commit uses the committed state",
			func(t *testing.T, cp *Checkpoint, _ lake.Store) {
				run(t, cp, 0, 2)
				if err := cp.WriteOffsets(context.Background(), entry(2)); err != nil {
					t.Fatal(err)
				}
				if err := cp.WriteState(context.Background(), 2, []byte("half-finished")); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, rec Recovery, err error) {
				if err != nil {
					t.Fatal(err)
				}
				wantResume(t, rec, 1, 2)
				wantNote(t, rec, StateKey(2))
			}},
		{"crash before the first commit replays batch 0 from empty state",
			func(t *testing.T, cp *Checkpoint, _ lake.Store) {
				if err := cp.WriteOffsets(context.Background(), entry(0)); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, rec Recovery, err error) {
				if err != nil {
					t.Fatal(err)
				}
				if rec.LastCommit != nil || rec.State != nil {
					t.Fatalf("resumes from %+v, want no commit", rec.LastCommit)
				}
				wantReplay(t, rec, 0)
			}},
		{"truncated commit falls back one batch and replays it",
			func(t *testing.T, cp *Checkpoint, st lake.Store) {
				run(t, cp, 0, 3)
				b := get(t, st, CommitKey(2))
				put(t, st, CommitKey(2), b[:len(b)/2])
			},
			func(t *testing.T, rec Recovery, err error) {
				if err != nil {
					t.Fatal(err)
				}
				wantResume(t, rec, 1, 2)
				wantNote(t, rec, CommitKey(2))
			}},
		{"truncated only commit replays from batch 0",
			func(t *testing.T, cp *Checkpoint, st lake.Store) {
				run(t, cp, 0, 1)
				put(t, st, CommitKey(0), []byte(`{"version":1,"batchId":0,"nextWat`))
			},
			func(t *testing.T, rec Recovery, err error) {
				if err != nil {
					t.Fatal(err)
				}
				if rec.LastCommit != nil || rec.State != nil {
					t.Fatalf("resumes from %+v, want no commit", rec.LastCommit)
				}
				wantReplay(t, rec, 0)
			}},
		{"commit of another batch is damage",
			func(t *testing.T, cp *Checkpoint, st lake.Store) {
				run(t, cp, 0, 3)
				put(t, st, CommitKey(2), get(t, st, CommitKey(1)))
			},
			func(t *testing.T, rec Recovery, err error) {
				if err != nil {
					t.Fatal(err)
				}
				wantResume(t, rec, 1, 2)
				wantNote(t, rec, "holds batch 1")
			}},
		{"missing state falls back one batch",
			func(t *testing.T, cp *Checkpoint, st lake.Store) {
				run(t, cp, 0, 3)
				del(t, st, StateKey(2))
			},
			func(t *testing.T, rec Recovery, err error) {
				if err != nil {
					t.Fatal(err)
				}
				wantResume(t, rec, 1, 2)
				wantNote(t, rec, StateKey(2)+" is missing")
			}},
		{"state with a flipped bit fails its checksum",
			func(t *testing.T, cp *Checkpoint, st lake.Store) {
				run(t, cp, 0, 3)
				b := get(t, st, StateKey(2))
				b[stateHeader+3] ^= 0x01
				put(t, st, StateKey(2), b)
			},
			func(t *testing.T, rec Recovery, err error) {
				if err != nil {
					t.Fatal(err)
				}
				wantResume(t, rec, 1, 2)
				wantNote(t, rec, "checksum mismatch")
			}},
		{"truncated state is detected",
			func(t *testing.T, cp *Checkpoint, st lake.Store) {
				run(t, cp, 0, 3)
				b := get(t, st, StateKey(2))
				put(t, st, StateKey(2), b[:len(b)-5])
			},
			func(t *testing.T, rec Recovery, err error) {
				if err != nil {
					t.Fatal(err)
				}
				wantResume(t, rec, 1, 2)
				wantNote(t, rec, "truncated")
			}},
		{"lost commit in the middle is harmless",
			func(t *testing.T, cp *Checkpoint, st lake.Store) {
				run(t, cp, 0, 4)
				del(t, st, CommitKey(1))
			},
			func(t *testing.T, rec Recovery, err error) {
				if err != nil {
					t.Fatal(err)
				}
				wantResume(t, rec, 3)
				wantNote(t, rec, "gap")
			}},
		{"truncated offsets of the batch to replay is an error",
			func(t *testing.T, cp *Checkpoint, st lake.Store) {
				run(t, cp, 0, 2)
				if err := cp.WriteOffsets(context.Background(), entry(2)); err != nil {
					t.Fatal(err)
				}
				b := get(t, st, OffsetsKey(2))
				put(t, st, OffsetsKey(2), b[:len(b)-1])
			},
			func(t *testing.T, _ Recovery, err error) { wantDamaged(t, err, OffsetsKey(2), "re-run") }},
		{"gap in the offsets log after the commit is an error",
			func(t *testing.T, cp *Checkpoint, st lake.Store) {
				run(t, cp, 0, 2)
				for _, id := range []int64{2, 3} {
					if err := cp.WriteOffsets(context.Background(), entry(id)); err != nil {
						t.Fatal(err)
					}
				}
				del(t, st, OffsetsKey(2))
			},
			func(t *testing.T, _ Recovery, err error) { wantDamaged(t, err, OffsetsKey(2)+" is missing") }},
		{"offsets that skip input are an error",
			func(t *testing.T, cp *Checkpoint, _ lake.Store) {
				run(t, cp, 0, 2)
				e := entry(2)
				e.Start[1] += 5
				if err := cp.WriteOffsets(context.Background(), e); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, _ Recovery, err error) {
				wantDamaged(t, err, OffsetsKey(2), "partition 1 starts at 25, the previous batch ended at 20")
			}},
		{"missing offsets of the last commit is an error",
			func(t *testing.T, cp *Checkpoint, st lake.Store) {
				run(t, cp, 0, 3)
				del(t, st, OffsetsKey(2))
			},
			func(t *testing.T, _ Recovery, err error) { wantDamaged(t, err, CommitKey(2)) }},
		{"no usable commit after a purge is an error",
			func(t *testing.T, cp *Checkpoint, st lake.Store) {
				run(t, cp, 0, 5)
				if err := cp.Purge(context.Background(), 2); err != nil {
					t.Fatal(err)
				}
				for _, id := range []int64{3, 4} {
					del(t, st, StateKey(id))
				}
			},
			func(t *testing.T, _ Recovery, err error) { wantDamaged(t, err, "purged") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachStore(t, kinds, func(t *testing.T, st lake.Store) {
				cp := open(t, st)
				tc.damage(t, cp, st)
				rec, err := cp.Recover(context.Background())
				tc.check(t, rec, err)
			})
		})
	}
}

func TestPurgeKeepsTheNewestBatches(t *testing.T) {
	forEachStore(t, storeKinds(t), func(t *testing.T, st lake.Store) {
		ctx := context.Background()
		cp := open(t, st)
		run(t, cp, 0, 10)
		if err := cp.WriteOffsets(ctx, entry(10)); err != nil { // planned, not committed
			t.Fatal(err)
		}
		if err := cp.Purge(ctx, 3); err != nil {
			t.Fatal(err)
		}
		for dir, want := range map[string][]string{
			OffsetsDir: {OffsetsKey(7), OffsetsKey(8), OffsetsKey(9), OffsetsKey(10)},
			StateDir:   {StateKey(7), StateKey(8), StateKey(9)},
			CommitsDir: {CommitKey(7), CommitKey(8), CommitKey(9)},
		} {
			infos, err := st.List(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range infos {
				got = append(got, o.Key)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s after Purge(3) = %v, want %v", dir, got, want)
			}
		}
		wantResume(t, recoverOK(t, cp), 9, 10)
		if err := cp.Purge(ctx, 0); err == nil {
			t.Error("Purge(0) would delete every batch, yet it was accepted")
		}
	})
}

var shape = Metadata{Topic: "eventos_sensores", Window: 10 * time.Second, WatermarkDelay: time.Minute, OutputMode: "append"}

func TestInitMetadata(t *testing.T) {
	forEachStore(t, storeKinds(t), func(t *testing.T, st lake.Store) {
		ctx := context.Background()
		cp := open(t, st)
		created, err := cp.InitMetadata(ctx, shape)
		if err != nil {
			t.Fatal(err)
		}
		if created.ID == "" || created.Version != FormatVersion || created.CreatedAt.IsZero() {
			t.Fatalf("created %+v: want a query id, the format version and a creation time", created)
		}

		t.Run("same shape keeps the stored id", func(t *testing.T) {
			want := shape
			want.ID = "3f1c2a7e-0000-4000-8000-000000000000"
			got, err := open(t, st).InitMetadata(ctx, want)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, created) {
				t.Fatalf("reopened metadata %+v, want the stored %+v", got, created)
			}
		})

		t.Run("incompatible shape is refused with an explanation", func(t *testing.T) {
			want := shape
			want.Window, want.OutputMode = 5*time.Second, "update"
			_, err := cp.InitMetadata(ctx, want)
			if !errors.Is(err, ErrIncompatible) {
				t.Fatalf("err = %v, want ErrIncompatible", err)
			}
			for _, s := range []string{created.ID, "window=10s", "window=5s", "output-mode=append", "output-mode=update",
				"original settings", "--checkpoint"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "topic=") {
				t.Errorf("error %q lists the topic, which did not change", err)
			}
		})

		t.Run("corrupt metadata names the file and the way out", func(t *testing.T) {
			b := get(t, st, MetadataKey)
			put(t, st, MetadataKey, b[:len(b)-10])
			_, err := cp.InitMetadata(ctx, shape)
			wantDamaged(t, err, MetadataKey, "appId of the stream table")
			// Never silently replaced by a new query.
			if got := get(t, st, MetadataKey); !bytes.Equal(got, b[:len(b)-10]) {
				t.Error("InitMetadata overwrote damaged metadata")
			}
		})
	})
}

func TestWritesRejectInvalidEntries(t *testing.T) {
	cp := open(t, fileStore(t))
	bad := entry(0)
	bad.End[2] = bad.Start[2] - 1
	delete(bad.Start, 1)
	err := cp.WriteOffsets(context.Background(), bad)
	for _, s := range []string{"partition 2", "partition 1", "start has 2 partitions"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("WriteOffsets of a bad plan: err %v does not mention %q", err, s)
		}
	}
	if _, err := cp.InitMetadata(context.Background(), Metadata{Window: -time.Second}); err == nil {
		t.Error("InitMetadata accepted a query without topic or output mode and a negative window")
	}
}

func TestStateFramingRoundTrips(t *testing.T) {
	for _, snap := range [][]byte{{}, []byte("x"), bytes.Repeat([]byte{0xff}, 1<<16)} {
		got, err := unframeState(7, frameState(7, snap))
		if err != nil || !bytes.Equal(got, snap) || got == nil {
			t.Fatalf("round trip of %d bytes: %d bytes, %v", len(snap), len(got), err)
		}
	}
	if _, err := unframeState(8, frameState(7, []byte("x"))); err == nil {
		t.Error("a state file of batch 7 was accepted as batch 8")
	}
}
