package kafkaout

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The Writer against franz-go's in-process broker, which implements
// transactions: fencing by transactional id, aborts, and the last stable
// offset that read_committed consumers stop at. Broker failures are
// injected with its control hooks.

const outTopic = "out"

func newCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newWriter starts a writer of query queryID as the app does: topics, then Init.
func newWriter(t *testing.T, c *kfake.Cluster, queryID string, opts ...kgo.Opt) *Writer {
	t.Helper()
	w, err := New(c.ListenAddrs(), queryID, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	if err := w.EnsureTopics(testCtx(t), 1, outTopic, MarkerTopic); err != nil {
		t.Fatalf("EnsureTopics: %v", err)
	}
	if err := w.Init(testCtx(t)); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return w
}

func send(w *Writer, values ...string) {
	for _, v := range values {
		w.Send(&kgo.Record{Topic: outTopic, Key: []byte("k"), Value: []byte(v)})
	}
}

// flushOpen sends what the writer has buffered without ending its
// transaction, so that its records are in the log, not yet committed.
func flushOpen(t *testing.T, w *Writer) {
	t.Helper()
	if err := w.cl.Flush(testCtx(t)); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	w.mu.Lock()
	err := w.firstErr
	w.mu.Unlock()
	if err != nil {
		t.Fatalf("a record failed: %v", err)
	}
}

// consume returns the values of topic's partition 0 that a consumer of the
// given isolation level sees: those up to the last stable offset for
// read_committed (records of open and aborted transactions are not shown),
// up to the high watermark for read_uncommitted.
func consume(t *testing.T, c *kfake.Cluster, topic string, level kgo.IsolationLevel) []string {
	t.Helper()
	ctx := testCtx(t)
	committed := level == kgo.ReadCommitted()
	adm, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	var ends kadm.ListedOffsets
	if committed {
		ends, err = kadm.NewClient(adm).ListCommittedOffsets(ctx, topic)
	} else {
		ends, err = kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	}
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	end, _ := ends.Lookup(topic, 0)
	if end.Offset <= 0 {
		return nil
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(level),
		kgo.KeepControlRecords(), // the commit and abort markers, so that the last offset is always seen
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []string
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume %s up to offset %d: %v (got %q)", topic, end.Offset, err, out)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch %s: %v", topic, err) })
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= end.Offset {
				return
			}
			if !r.Attrs.IsControl() {
				out = append(out, string(r.Value))
			}
			done = done || r.Offset == end.Offset-1
		})
		if done {
			return out
		}
	}
}

func checkSeen(t *testing.T, c *kfake.Cluster, level kgo.IsolationLevel, want ...string) {
	t.Helper()
	name := "read_uncommitted"
	if level == kgo.ReadCommitted() {
		name = "read_committed"
	}
	if got := consume(t, c, outTopic, level); !slices.Equal(got, want) {
		t.Errorf("a %s consumer sees %q, want %q", name, got, want)
	}
}

// lastCommitted is what a restarted writer of the query learns from the markers.
func lastCommitted(t *testing.T, c *kfake.Cluster, queryID string) int64 {
	t.Helper()
	return newWriter(t, c, queryID).LastCommitted()
}

func commit(t *testing.T, w *Writer, batch int64, values ...string) {
	t.Helper()
	w.Begin(batch)
	send(w, values...)
	sent, skipped, err := w.Commit(testCtx(t))
	if err != nil || skipped || sent != int64(len(values)) {
		t.Fatalf("Commit of batch %d: sent %d, skipped %v, err %v; want %d sent", batch, sent, skipped, err, len(values))
	}
}

// A batch's records are invisible to read_committed consumers until its
// commit; a re-run of a committed batch, after a restart, writes nothing.
func TestBatchIsVisibleOnlyOnceCommitted(t *testing.T) {
	c := newCluster(t)
	w := newWriter(t, c, "q")
	if w.LastCommitted() != -1 {
		t.Fatalf("LastCommitted of a new query = %d, want -1", w.LastCommitted())
	}
	w.Begin(0)
	send(w, "b0-0", "b0-1")
	flushOpen(t, w)
	checkSeen(t, c, kgo.ReadUncommitted(), "b0-0", "b0-1")
	checkSeen(t, c, kgo.ReadCommitted()) // the transaction is open
	if sent, skipped, err := w.Commit(testCtx(t)); err != nil || skipped || sent != 2 {
		t.Fatalf("Commit: sent %d, skipped %v, err %v; want 2 sent", sent, skipped, err)
	}
	checkSeen(t, c, kgo.ReadCommitted(), "b0-0", "b0-1")
	if w.LastCommitted() != 0 {
		t.Errorf("LastCommitted = %d after committing batch 0", w.LastCommitted())
	}

	// A batch without records commits nothing, and is no marker.
	w.Begin(1)
	if sent, skipped, err := w.Commit(testCtx(t)); err != nil || skipped || sent != 0 {
		t.Fatalf("Commit of an empty batch: sent %d, skipped %v, err %v", sent, skipped, err)
	}

	// The query restarts and re-runs batch 0: its output is in Kafka already.
	w.Close()
	again := newWriter(t, c, "q")
	if again.LastCommitted() != 0 {
		t.Fatalf("restarted writer: LastCommitted = %d, want 0", again.LastCommitted())
	}
	again.Begin(0)
	send(again, "b0-0", "b0-1")
	if sent, skipped, err := again.Commit(testCtx(t)); err != nil || !skipped || sent != 0 {
		t.Fatalf("Commit of a re-run of a committed batch: sent %d, skipped %v, err %v; want skipped", sent, skipped, err)
	}
	commit(t, again, 1, "b1-0")
	checkSeen(t, c, kgo.ReadCommitted(), "b0-0", "b0-1", "b1-0")
	if got := lastCommitted(t, c, "q"); got != 1 {
		t.Errorf("markers say batch %d, want 1", got)
	}
	if got := lastCommitted(t, c, "other query"); got != -1 {
		t.Errorf("another query's markers say batch %d, want -1", got)
	}
}

// isFenced reports whether err says a newer producer of the same
// transactional id took over.
func isFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch)
}

// A writer that a newer one of the same query fenced while its batch was
// open cannot commit it: the newer one's Init aborted it.
func TestNewerWriterFencesTheOlderBeforeItsCommit(t *testing.T) {
	c := newCluster(t)
	old := newWriter(t, c, "q")
	commit(t, old, 0, "b0")
	old.Begin(1)
	send(old, "old-1a", "old-1b")
	flushOpen(t, old)

	newer := newWriter(t, c, "q") // a restart while the old process still runs
	if newer.LastCommitted() != 0 {
		t.Fatalf("newer writer: LastCommitted = %d, want 0", newer.LastCommitted())
	}
	_, _, err := old.Commit(testCtx(t))
	if !isFenced(err) {
		t.Fatalf("the fenced writer's Commit: err = %v, want it fenced", err)
	}
	if old.LastCommitted() != 0 {
		t.Errorf("the fenced writer's LastCommitted = %d, want 0", old.LastCommitted())
	}
	checkSeen(t, c, kgo.ReadCommitted(), "b0")
	checkSeen(t, c, kgo.ReadUncommitted(), "b0", "old-1a", "old-1b") // in the log, aborted

	// Fenced for good: its next batch fails too, rather than seem to commit.
	old.Begin(2)
	send(old, "old-2")
	if sent, _, err := old.Commit(testCtx(t)); err == nil {
		t.Fatalf("the fenced writer's next Commit: sent %d, no error", sent)
	}

	commit(t, newer, 1, "new-1")
	checkSeen(t, c, kgo.ReadCommitted(), "b0", "new-1")
	if got := lastCommitted(t, c, "q"); got != 1 {
		t.Errorf("markers say batch %d, want 1", got)
	}
}

// A zombie that has flushed its batch and its marker, and is fenced just
// before its EndTxn, fails to commit; none of its batch is visible, and its
// marker does not count.
func TestNewerWriterFencesTheOlderAtItsEndTxn(t *testing.T) {
	c := newCluster(t)
	old := newWriter(t, c, "q")

	arrived, fenced := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	c.ControlKey(int16(kmsg.EndTxn), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.DropControl() // only the old writer's first EndTxn
		if !first.CompareAndSwap(false, true) {
			return nil, nil, false // a retry while it sleeps
		}
		close(arrived)
		c.SleepControl(func() { <-fenced })
		return nil, nil, false // then the broker answers it
	})
	old.Begin(0)
	send(old, "old-0a", "old-0b")
	errc := make(chan error, 1)
	go func() {
		_, _, err := old.Commit(testCtx(t))
		errc <- err
	}()
	select {
	case <-arrived:
	case err := <-errc:
		t.Fatalf("Commit returned %v before its EndTxn reached the broker", err)
	}
	newer := newWriter(t, c, "q")
	close(fenced)
	// The newer writer's InitProducerID aborted the open transaction and
	// bumped the epoch by one, so the old EndTxn reads as a retry of that
	// abort: kfake answers a commit there INVALID_TXN_STATE, not
	// PRODUCER_FENCED. Either way it must fail.
	if err := <-errc; !isFenced(err) && !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("the fenced writer's Commit: err = %v, want it fenced", err)
	}
	if newer.LastCommitted() != -1 {
		t.Errorf("newer writer: LastCommitted = %d, want -1 (the old marker is not committed)", newer.LastCommitted())
	}
	checkSeen(t, c, kgo.ReadCommitted())
	checkSeen(t, c, kgo.ReadUncommitted(), "old-0a", "old-0b")

	commit(t, newer, 0, "new-0")
	checkSeen(t, c, kgo.ReadCommitted(), "new-0")
	if got := lastCommitted(t, c, "q"); got != 0 {
		t.Errorf("markers say batch %d, want 0", got)
	}
}

// produceFails answers the next produce request with err for every
// partition in it, as a broker that refuses the records.
func produceFails(c *kfake.Cluster, code int16) *atomic.Int32 {
	var n atomic.Int32
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		n.Add(1)
		return resp, nil, true
	})
	return &n
}

// A batch with a record the broker refuses is aborted: read_committed
// consumers see none of it, including the records that were written, and
// its re-run commits once.
func TestFailedProduceAbortsTheBatch(t *testing.T) {
	c := newCluster(t)
	w := newWriter(t, c, "q")
	commit(t, w, 0, "b0")

	w.Begin(1)
	send(w, "b1-0", "b1-1")
	flushOpen(t, w)
	refused := produceFails(c, kerr.MessageTooLarge.Code)
	send(w, "b1-2")
	sent, _, err := w.Commit(testCtx(t))
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("Commit of a batch with a refused record: sent %d, err = %v; want MESSAGE_TOO_LARGE", sent, err)
	}
	if refused.Load() != 1 {
		t.Fatalf("%d produce requests refused, want 1", refused.Load())
	}
	if w.LastCommitted() != 0 {
		t.Errorf("LastCommitted = %d after a failed batch 1", w.LastCommitted())
	}
	checkSeen(t, c, kgo.ReadCommitted(), "b0")
	checkSeen(t, c, kgo.ReadUncommitted(), "b0", "b1-0", "b1-1") // written, then aborted

	// The re-run, by the same writer.
	commit(t, w, 1, "b1-0", "b1-1", "b1-2")
	checkSeen(t, c, kgo.ReadCommitted(), "b0", "b1-0", "b1-1", "b1-2")
	if got := lastCommitted(t, c, "q"); got != 1 {
		t.Errorf("markers say batch %d, want 1", got)
	}
}

// endTxnFails answers the next EndTxn request with code.
func endTxnFails(c *kfake.Cluster, code int16) *atomic.Int32 {
	var n atomic.Int32
	c.ControlKey(int16(kmsg.EndTxn), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		resp := kreq.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = code
		n.Add(1)
		return resp, nil, true
	})
	return &n
}

// A batch whose commit the broker refuses is aborted, and the writer goes
// on: the next batch commits and is seen once.
func TestFailedCommitAbortsTheBatch(t *testing.T) {
	c := newCluster(t)
	w := newWriter(t, c, "q")
	commit(t, w, 0, "b0")

	refused := endTxnFails(c, kerr.TransactionAbortable.Code)
	w.Begin(1)
	send(w, "b1-0", "b1-1")
	if _, _, err := w.Commit(testCtx(t)); !errors.Is(err, kerr.TransactionAbortable) {
		t.Fatalf("Commit refused by the broker: err = %v, want TRANSACTION_ABORTABLE", err)
	}
	if refused.Load() != 1 {
		t.Fatalf("%d EndTxn requests refused, want 1", refused.Load())
	}
	checkSeen(t, c, kgo.ReadCommitted(), "b0")
	checkSeen(t, c, kgo.ReadUncommitted(), "b0", "b1-0", "b1-1")

	commit(t, w, 1, "b1-0", "b1-1")
	commit(t, w, 2, "b2-0")
	checkSeen(t, c, kgo.ReadCommitted(), "b0", "b1-0", "b1-1", "b2-0")
	if got := lastCommitted(t, c, "q"); got != 2 {
		t.Errorf("markers say batch %d, want 2", got)
	}
}

// A batch begun and never committed (its run failed half-way) does not
// leak into the next: Begin aborts it.
func TestBeginAbortsAnUncommittedBatch(t *testing.T) {
	c := newCluster(t)
	w := newWriter(t, c, "q")
	w.Begin(0)
	send(w, "b0-0", "b0-1")
	flushOpen(t, w)
	commit(t, w, 0, "b0-0", "b0-1") // the re-run
	checkSeen(t, c, kgo.ReadCommitted(), "b0-0", "b0-1")
	checkSeen(t, c, kgo.ReadUncommitted(), "b0-0", "b0-1", "b0-0", "b0-1")
}

// A commit that happened at the broker, whose answer was lost, is learned
// from the markers: Commit reports the batch committed, and its re-run
// writes nothing, so the batch is seen exactly once.
func TestCommitWhoseAnswerIsLost(t *testing.T) {
	c := newCluster(t)
	w := newWriter(t, c, "q")
	raw, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	var calls atomic.Int32
	c.ControlKey(int16(kmsg.EndTxn), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		if calls.Add(1) > 1 {
			return nil, nil, false // the copy sent below: the broker commits
		}
		// Commit the transaction with a copy of the request, then answer
		// the writer's as a broker that failed before it could reply.
		req := kreq.(*kmsg.EndTxnRequest)
		var copyErr error
		c.SleepControl(func() {
			cp := *req
			resp, err := cp.RequestWith(testCtx(t), raw)
			if err == nil {
				err = kerr.ErrorForCode(resp.ErrorCode)
			}
			copyErr = err
		})
		if copyErr != nil {
			t.Errorf("the copy of the EndTxn: %v", copyErr)
		}
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.UnknownServerError.Code
		return resp, nil, true
	})
	w.Begin(0)
	send(w, "b0-0", "b0-1")
	sent, skipped, err := w.Commit(testCtx(t))
	if err != nil || skipped || sent != 2 {
		t.Fatalf("Commit whose answer was lost: sent %d, skipped %v, err %v; want 2 sent, as its marker is committed", sent, skipped, err)
	}
	if calls.Load() != 2 {
		t.Fatalf("%d EndTxn requests, want the writer's and its copy", calls.Load())
	}
	if w.LastCommitted() != 0 {
		t.Errorf("LastCommitted = %d, want 0", w.LastCommitted())
	}
	w.Begin(0) // a re-run
	send(w, "b0-0", "b0-1")
	if _, skipped, err := w.Commit(testCtx(t)); err != nil || !skipped {
		t.Fatalf("re-run of the committed batch: skipped %v, err %v; want skipped", skipped, err)
	}
	commit(t, w, 1, "b1-0")
	checkSeen(t, c, kgo.ReadCommitted(), "b0-0", "b0-1", "b1-0")
}

// When neither the commit nor the markers answer, the writer cannot know
// whether the batch is in Kafka: it refuses to go on until it is re-created,
// and the re-created one knows.
func TestWriterWhoseCommitOutcomeIsUnknownStops(t *testing.T) {
	c := newCluster(t)
	w := newWriter(t, c, "q")
	endTxnFails(c, kerr.TransactionAbortable.Code)
	c.ControlKey(int16(kmsg.ListOffsets), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.ListOffsetsRequest)
		resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.UnknownServerError.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	w.Begin(0)
	send(w, "b0")
	if _, _, err := w.Commit(testCtx(t)); !errors.Is(err, kerr.TransactionAbortable) {
		t.Fatalf("Commit: err = %v, want TRANSACTION_ABORTABLE", err)
	}
	w.Begin(0)
	send(w, "b0")
	if sent, _, err := w.Commit(testCtx(t)); err == nil {
		t.Fatalf("Commit after an unknown outcome: sent %d, no error", sent)
	}
	checkSeen(t, c, kgo.ReadCommitted())
	again := newWriter(t, c, "q")
	commit(t, again, 0, "b0")
	checkSeen(t, c, kgo.ReadCommitted(), "b0")
}

// Queries share the marker topic. A restart must see its query's newest
// marker even while another query's transaction, begun before it, is
// still open and holds the last stable offset below it.
func TestMarkersBehindAnotherQuerysOpenTransaction(t *testing.T) {
	c := newCluster(t)
	a, b := newWriter(t, c, "a"), newWriter(t, c, "b")

	// b's commit stops at its EndTxn: its records and marker are in the
	// log, its transaction open.
	bArrived, bGo := make(chan struct{}), make(chan struct{})
	var bFirst atomic.Bool
	c.ControlKey(int16(kmsg.EndTxn), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		if kreq.(*kmsg.EndTxnRequest).TransactionalID != "sensorlab-streamer-b" || !bFirst.CompareAndSwap(false, true) {
			return nil, nil, false // a's, or a retry of b's while it sleeps
		}
		c.DropControl()
		close(bArrived)
		c.SleepControl(func() { <-bGo })
		return nil, nil, false
	})
	b.Begin(0)
	send(b, "b-0")
	bErr := make(chan error, 1)
	go func() {
		_, _, err := b.Commit(testCtx(t))
		bErr <- err
	}()
	<-bArrived
	commit(t, a, 0, "a-0")

	// a restarts. b's transaction ends only once the restarted writer has
	// asked where the marker topic ends.
	again, err := New(c.ListenAddrs(), "a", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	var listed atomic.Bool
	c.ControlKey(int16(kmsg.ListOffsets), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.DropControl()
		if listed.CompareAndSwap(false, true) {
			close(bGo)
		}
		return nil, nil, false
	})
	if err := again.Init(testCtx(t)); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if again.LastCommitted() != 0 {
		t.Errorf("restarted writer: LastCommitted = %d, want 0: a re-run of batch 0 would write it twice", again.LastCommitted())
	}
	if err := <-bErr; err != nil {
		t.Fatalf("b's Commit: %v", err)
	}
	checkSeen(t, c, kgo.ReadCommitted(), "b-0", "a-0")
}
