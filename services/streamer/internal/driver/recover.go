package driver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sensorlab/sensorlab/services/streamer/internal/checkpoint"
	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
	"github.com/sensorlab/sensorlab/services/streamer/internal/kafkaout"
	"github.com/sensorlab/sensorlab/services/streamer/internal/qsink"
	"github.com/sensorlab/sensorlab/services/streamer/internal/source"

	"github.com/sensorlab/sensorlab/query/plan"
)

// recover restores the queries from the checkpoint
// (docs/checkpoint-protocol.md): metadata, recovery, the Kafka writer, the
// outputs, the state and the offsets the next batch starts at.
func (d *Driver) recover(work, ctx context.Context, s *session) error {
	if d.cfg.DLQTopic == s.topic {
		return fmt.Errorf("%w: --dlq-topic %q is the topic the source %s reads", errSetup, d.cfg.DLQTopic, d.src.Name)
	}
	if err := qsink.CheckNotLegacy(work, s.lake, d.prog.Queries); err != nil {
		return err
	}
	var err error
	s.meta, err = s.ck.InitMetadata(work, checkpoint.Metadata{
		ID: uuid.NewString(), CreatedAt: time.Now().UTC(), Topic: s.topic,
		OutputMode: checkpoint.QueryFileMode, Queries: d.queryMetas(nil),
	})
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	metas, changed, err := d.matchQueries(s.meta.Queries)
	if err != nil {
		return err
	}
	if changed {
		if s.meta, err = s.ck.UpdateMetadata(work, s.meta, metas); err != nil {
			return err
		}
	}
	// Read the checkpoint before the Kafka writer fences other producers
	// of the query: a process that must stop stops without disturbing the
	// one that goes on.
	rec, err := s.ck.Recover(work)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := d.checkAlone(s, rec); err != nil {
		return err
	}
	if s.out, err = kafkaout.New(d.cfg.Brokers, s.meta.ID, d.log, d.ExtraKafkaOpts...); err != nil {
		return err
	}
	topics := append([]string{d.cfg.DLQTopic, kafkaout.MarkerTopic}, qsink.Topics(d.prog.Queries)...)
	if d.src.LateTopic != "" {
		topics = append(topics, d.src.LateTopic)
	}
	if err := s.out.EnsureTopics(work, int32(len(s.src.Partitions())), topics...); err != nil {
		return err
	}
	if err := s.out.Init(work); err != nil {
		return err
	}
	for _, n := range rec.Notes {
		d.log.Info("recovery", "note", n)
	}
	if s.reader, err = plan.NewSourceReader(d.src); err != nil {
		return fmt.Errorf("%w: %w", errSetup, err)
	}
	s.queries = s.queries[:0]
	for i, q := range d.prog.Queries {
		out, err := qsink.Open(work, q, qsink.Env{Lake: s.lake, LakeURL: d.cfg.Lake, Kafka: s.out, Stdout: d.stdout, Epoch: d.Epoch,
			QueryID: metas[i].ID, Log: d.log.With("query", q.Name)})
		if err != nil {
			return fmt.Errorf("query %s: %w", q.Name, err)
		}
		s.queries = append(s.queries, &runningQuery{q: q, id: metas[i].ID, out: out})
	}
	if err := d.restoreState(s, rec); err != nil {
		return err
	}
	for _, rq := range s.queries {
		if n, ok := qsink.ShowsFirst(rq.out); ok {
			// A console prints its first rows and /rows keeps its first
			// LatestRowsCap: only those need ORDER BY's order.
			rq.exec.ReadsFirst(max(n, LatestRowsCap))
		}
	}
	s.state = stateCursor{snapshotNext: true}

	d.seen = &seenBatches{offsets: -1, commit: -1}
	if rec.LastOffsets != nil {
		d.seen.offsets = rec.LastOffsets.BatchID
	}
	p := position{lastInput: time.Now()}
	if rec.LastCommit != nil {
		d.seen.commit = rec.LastCommit.BatchID
		p.nextBatch = rec.LastCommit.BatchID + 1
		p.watermarkMs = rec.LastCommit.NextWatermarkMs
		// The commit does not say whether its watermark left windows to
		// close: one no-data batch finds out.
		p.needsNoData = true
	}
	p.replay = rec.Replay
	var start source.Offsets
	switch {
	case len(rec.Replay) > 0:
		start = rec.Replay[0].Start
	case rec.LastOffsets != nil:
		start = rec.LastOffsets.End
	default:
		mode := strings.ToLower(d.src.Options["scan.startup.mode"] + d.src.Options["startingoffsets"])
		if mode == "" {
			mode = d.cfg.StartingOffsets
		}
		if start, err = s.src.ListOffsets(ctx, mode == "earliest"); err != nil {
			return err
		}
		d.log.Info("new query: starting offsets", "starting_offsets", mode, "offsets", start)
	}
	start = start.Clone()
	var earliest source.Offsets
	for _, part := range s.src.Partitions() {
		if _, ok := start[part]; ok {
			continue
		}
		if earliest == nil {
			if earliest, err = s.src.ListOffsets(ctx, true); err != nil {
				return err
			}
		}
		start[part] = earliest[part]
		d.log.Info("new partition: reading it from its beginning", "partition", part, "offset", earliest[part])
	}
	start, p.lossReset, err = s.src.CheckStart(ctx, start)
	if err != nil {
		return err
	}
	if p.lossReset && len(p.replay) > 0 {
		return fmt.Errorf("%w: batch %d must be re-run from offsets Kafka no longer holds; reset the query's checkpoint",
			source.ErrDataLoss, p.replay[0].BatchID)
	}
	p.nextStart = start
	if d.cfg.Trigger == config.TriggerAvailableNow {
		if p.targets, err = s.src.ListOffsets(ctx, false); err != nil {
			return err
		}
		for part, t := range p.targets {
			if t < start[part] {
				p.targets[part] = start[part]
			}
		}
	}
	s.position = p
	return s.src.StartAt(start)
}

// queryMetas describes the script's queries for metadata.json, keeping
// the ids of have (by name) and giving new queries new ids.
func (d *Driver) queryMetas(have map[string]checkpoint.QueryMeta) []checkpoint.QueryMeta {
	out := make([]checkpoint.QueryMeta, len(d.prog.Queries))
	for i, q := range d.prog.Queries {
		id := uuid.NewString()
		if h, ok := have[strings.ToLower(q.Name)]; ok {
			id = h.ID
		}
		out[i] = checkpoint.QueryMeta{Name: q.Name, ID: id, Fingerprint: fingerprint(q)}
	}
	return out
}

// fingerprint is what a query's checkpointed state depends on: the plan's
// Fingerprint, and for a stateful query its aggregation's configuration
// (window size, slide and gap, keys, aggregates, mode, watermark delay),
// which restoring the state requires unchanged.
func fingerprint(q *plan.Query) string {
	fp := q.Fingerprint()
	if in, c, ok := q.AggConfig(); ok {
		fp += fmt.Sprintf(" state{%s in=%v keys=%v window=%+v aggs=%v mode=%v watermark=%v/%d}",
			stateLayout, in, c.Keys, c.Window, c.Aggs, c.Mode, c.HasWatermark, c.Delay)
	}
	return fp
}

// stateLayout names, in a stateful query's fingerprint, how its state
// encodes group keys: since layout 2 a key column the query proves never
// NULL (a NOT NULL column, the pieces of split) has no null marker. A
// checkpoint of a stateful query whose fingerprint names no layout was
// written in layout 1, which this build does not read.
const stateLayout = "layout=2"

// matchQueries compares the script's queries with the checkpoint's: a
// query whose fingerprint changed is refused, as Spark refuses a restart
// whose query changed incompatibly; an added query starts from empty
// state and a removed one is dropped (both logged). It returns the
// script's entries for metadata.json and whether they differ from stored.
func (d *Driver) matchQueries(stored []checkpoint.QueryMeta) ([]checkpoint.QueryMeta, bool, error) {
	have := map[string]checkpoint.QueryMeta{}
	for _, m := range stored {
		have[strings.ToLower(m.Name)] = m
	}
	metas := d.queryMetas(have)
	changed := len(stored) != len(metas)
	var errs []error
	for i, m := range metas {
		h, ok := have[strings.ToLower(m.Name)]
		switch {
		case !ok:
			changed = true
			d.log.Info("query added to the script: it starts from empty state", "query", m.Name)
		case h.Fingerprint != m.Fingerprint && strings.Contains(h.Fingerprint, " state{") && !strings.Contains(h.Fingerprint, " state{layout="):
			errs = append(errs, fmt.Errorf("query %s %w: at %s, its state was written by an earlier sensorlab build, in a layout this one does not read (group keys that cannot be NULL are now kept without a null marker); start it with a new --checkpoint (the old checkpoint and the tables stay as they are)",
				m.Name, errIncompatibleQuery, d.prog.Queries[i].At))
		case h.Fingerprint != m.Fingerprint:
			errs = append(errs, fmt.Errorf("query %s %w: at %s, its state was kept for %s, and the script now says %s; start it with a new --checkpoint",
				m.Name, errIncompatibleQuery, d.prog.Queries[i].At, h.Fingerprint, m.Fingerprint))
		case h.Name != m.Name || h.ID != m.ID:
			changed = true
		}
		delete(have, strings.ToLower(m.Name))
	}
	for _, h := range stored {
		if _, ok := have[strings.ToLower(h.Name)]; ok {
			d.log.Info("query removed from the script: its state is dropped", "query", h.Name)
		}
	}
	if len(errs) > 0 {
		return nil, false, errors.Join(errs...)
	}
	return metas, changed, nil
}

// checkAlone refuses to go on when the checkpoint holds a batch this
// process neither recovered nor wrote since its previous session: another
// streamer runs the checkpoint (see the app package's checkAlone).
func (d *Driver) checkAlone(s *session, rec checkpoint.Recovery) error {
	if d.seen == nil {
		return nil
	}
	if o := rec.LastOffsets; o != nil && o.BatchID > d.seen.offsets && rec.OffsetsRunID != s.ck.RunID() {
		return &checkpoint.InUseError{Checkpoint: s.ck.String(), What: "offsets", BatchID: o.BatchID, OtherRunID: rec.OffsetsRunID}
	}
	if c := rec.LastCommit; c != nil && c.BatchID > d.seen.commit && rec.CommitRunID != s.ck.RunID() {
		return &checkpoint.InUseError{Checkpoint: s.ck.String(), What: "the commit", BatchID: c.BatchID, OtherRunID: rec.CommitRunID}
	}
	return nil
}
