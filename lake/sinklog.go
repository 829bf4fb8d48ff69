package lake

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/sensorlab/sensorlab/contract"
)

// ReadSinkLog reads every sink-log entry of the lake
// (stream/_sink_log/<query>/<batch>.json), sorted by query id then batch id.
//
// It never skips what it cannot read: an object under the sink-log prefix
// whose key does not parse, whose JSON is malformed, whose version is not
// contract.SinkLogVersion, or whose query or batch id disagrees with its key
// is an error naming the key. A committed file missed silently would be a
// window lost for the batcher.
func ReadSinkLog(ctx context.Context, s Store) ([]contract.SinkLogEntry, error) {
	objs, err := s.List(ctx, contract.SinkLogPrefix)
	if err != nil {
		return nil, fmt.Errorf("lake: read sink log: %w", err)
	}
	type keyed struct {
		query string
		batch int64
		entry contract.SinkLogEntry
	}
	entries := make([]keyed, len(objs))
	// Entries are small objects: fetch them a few at a time, which is what
	// makes a long log (thousands of batches) cheap to read from S3.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(sinkLogReaders)
	for i, o := range objs {
		q, b, ok := contract.ParseSinkLogKey(o.Key)
		if !ok {
			return nil, fmt.Errorf("lake: sink log: %s is not a sink-log key (want %s)", o.Key, contract.SinkLogKey("<query>", 0))
		}
		g.Go(func() error {
			data, err := s.Get(gctx, o.Key)
			if err != nil {
				return fmt.Errorf("lake: sink log: %w", err)
			}
			e, err := decodeSinkLogEntry(data)
			if err != nil {
				return fmt.Errorf("lake: sink log entry %s: %w", o.Key, err)
			}
			if e.QueryID != q || e.BatchID != b {
				return fmt.Errorf("lake: sink log entry %s: it says query %q batch %d, its key says query %q batch %d", o.Key, e.QueryID, e.BatchID, q, b)
			}
			entries[i] = keyed{q, b, e}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// Keys are zero-padded, so List's order is already (query, batch); sort
	// on the parsed values anyway so that the order never depends on padding.
	slices.SortFunc(entries, func(a, b keyed) int {
		return cmp.Or(cmp.Compare(a.query, b.query), cmp.Compare(a.batch, b.batch))
	})
	out := make([]contract.SinkLogEntry, len(entries))
	for i, e := range entries {
		out[i] = e.entry
	}
	return out, nil
}

// sinkLogReaders bounds the sink-log entries fetched at once.
const sinkLogReaders = 16

func decodeSinkLogEntry(data []byte) (contract.SinkLogEntry, error) {
	var e contract.SinkLogEntry
	// Unknown fields are tolerated (a later, additive writer); the version
	// field is what marks an incompatible format.
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&e); err != nil {
		return e, fmt.Errorf("malformed JSON: %w", err)
	}
	if dec.More() {
		return e, fmt.Errorf("malformed JSON: trailing data after the entry")
	}
	if e.Version != contract.SinkLogVersion {
		return e, fmt.Errorf("version %d, this build reads version %d", e.Version, contract.SinkLogVersion)
	}
	for i, f := range e.Files {
		if f.Path == "" {
			return e, fmt.Errorf("file %d has an empty path", i)
		}
	}
	return e, nil
}

// CommittedStreamFiles returns the lake's committed window files: every file
// a sink-log entry added and no entry removed, sorted by path
// (contract.CommittedFiles over ReadSinkLog).
func CommittedStreamFiles(ctx context.Context, s Store) ([]contract.SinkFile, error) {
	entries, err := ReadSinkLog(ctx, s)
	if err != nil {
		return nil, err
	}
	return contract.CommittedFiles(entries), nil
}
