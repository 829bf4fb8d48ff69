package delta

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sensorlab/sensorlab/lake"
)

// fileKey is a logical file's primary key: its decoded path and its
// deletion vector's unique id ("" without one).
type fileKey struct{ path, dv string }

// state is a table's state at one version: the protocol's action
// reconciliation, in one place. Log replay, checkpoint reading and the
// commit's post-commit state all go through apply.
type state struct {
	version    int64
	protocol   *Protocol
	metadata   *Metadata
	files      map[fileKey]*Add
	tombstones map[fileKey]*Remove
	txns       map[string]Txn
	domains    map[string]DomainMetadata
}

func newState() *state {
	return &state{version: -1, files: map[fileKey]*Add{}, tombstones: map[fileKey]*Remove{},
		txns: map[string]Txn{}, domains: map[string]DomainMetadata{}}
}

func (s *state) clone() *state {
	c := *s
	c.files = maps.Clone(s.files)
	c.tombstones = maps.Clone(s.tombstones)
	c.txns = maps.Clone(s.txns)
	c.domains = maps.Clone(s.domains)
	return &c
}

// apply reconciles one action into the state: the latest protocol and
// metaData win, the latest txn per appId, the latest domainMetadata per
// domain (a removed one leaves), and the newest reference to each logical
// file (path, dv): an add makes it live, a remove a tombstone. The state
// keeps copies: the caller's action stays its own.
func (s *state) apply(a Action) error {
	if a.Protocol != nil {
		p := *a.Protocol
		a.Protocol = &p
	}
	if a.Metadata != nil {
		m := *a.Metadata
		a.Metadata = &m
	}
	if a.Add != nil {
		add := *a.Add
		a.Add = &add
	}
	if a.Remove != nil {
		rm := *a.Remove
		a.Remove = &rm
	}
	return s.applyOwned(a)
}

// applyOwned is apply for an action no one else holds (one just read from
// the log): the state keeps its protocol, metaData, add or remove as they
// are, and no one may change them afterwards.
func (s *state) applyOwned(a Action) error {
	switch {
	case a.Protocol != nil:
		s.protocol = a.Protocol
	case a.Metadata != nil:
		s.metadata = a.Metadata
	case a.Txn != nil:
		s.txns[a.Txn.AppID] = *a.Txn
	case a.DomainMetadata != nil:
		if a.DomainMetadata.Removed {
			delete(s.domains, a.DomainMetadata.Domain)
		} else {
			s.domains[a.DomainMetadata.Domain] = *a.DomainMetadata
		}
	case a.Add != nil:
		p, err := DecodePath(a.Add.Path)
		if err != nil {
			return err
		}
		k := fileKey{p, a.Add.DeletionVector.UniqueID()}
		s.files[k] = a.Add
		delete(s.tombstones, k)
	case a.Remove != nil:
		p, err := DecodePath(a.Remove.Path)
		if err != nil {
			return err
		}
		k := fileKey{p, a.Remove.DeletionVector.UniqueID()}
		delete(s.files, k)
		s.tombstones[k] = a.Remove
	}
	return nil
}

// Snapshot is a table at one version: its protocol, metadata, live files,
// tombstones and transaction identifiers. It is immutable; Update returns
// a newer one.
type Snapshot struct {
	table     *Table
	st        *state
	schema    StructType
	timestamp time.Time // the commit's time: file modification time, or in-commit timestamp
}

// Version is the snapshot's table version.
func (s *Snapshot) Version() int64 { return s.st.version }

// Table is the table the snapshot was read from.
func (s *Snapshot) Table() *Table { return s.table }

// Protocol is the table's protocol at this version.
func (s *Snapshot) Protocol() Protocol { return *s.st.protocol }

// Metadata is the table's metadata at this version.
func (s *Snapshot) Metadata() Metadata { return *s.st.metadata }

// Schema is the parsed schemaString.
func (s *Snapshot) Schema() StructType { return s.schema }

// PartitionColumns are the table's partition columns, in order.
func (s *Snapshot) PartitionColumns() []string { return slices.Clone(s.st.metadata.PartitionColumns) }

// Timestamp is when this version was committed: its commit file's
// modification time, or its in-commit timestamp when the table records them.
func (s *Snapshot) Timestamp() time.Time { return s.timestamp }

// Files returns the live logical files, sorted by path.
func (s *Snapshot) Files() []Add {
	out := make([]Add, 0, len(s.st.files))
	for _, a := range s.st.files {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b Add) int { return cmp.Compare(a.Path, b.Path) })
	return out
}

// NumFiles is the number of live logical files.
func (s *Snapshot) NumFiles() int { return len(s.st.files) }

// SizeInBytes is the total size of the live files.
func (s *Snapshot) SizeInBytes() int64 {
	var n int64
	for _, a := range s.st.files {
		n += a.Size
	}
	return n
}

// Tombstones returns the removes still in the state (expired ones
// included: a checkpoint drops those), sorted by path.
func (s *Snapshot) Tombstones() []Remove {
	out := make([]Remove, 0, len(s.st.tombstones))
	for _, r := range s.st.tombstones {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Remove) int { return cmp.Compare(a.Path, b.Path) })
	return out
}

// TxnVersion returns the latest version committed for an application id
// (a streaming query's id): a streaming writer skips a batch whose id is
// not above it.
func (s *Snapshot) TxnVersion(appID string) (int64, bool) {
	t, ok := s.st.txns[appID]
	return t.Version, ok
}

// Txns returns every transaction identifier, sorted by appId.
func (s *Snapshot) Txns() []Txn {
	out := slices.Collect(maps.Values(s.st.txns))
	slices.SortFunc(out, func(a, b Txn) int { return cmp.Compare(a.AppID, b.AppID) })
	return out
}

// DomainMetadata returns the live metadata domains, sorted by name.
func (s *Snapshot) DomainMetadata() []DomainMetadata {
	out := slices.Collect(maps.Values(s.st.domains))
	slices.SortFunc(out, func(a, b DomainMetadata) int { return cmp.Compare(a.Domain, b.Domain) })
	return out
}

// Snapshot reads the table's latest version: from the newest checkpoint
// (found through _last_checkpoint, else by listing) and the commits after
// it. A table that needs a reader feature this package does not implement
// is refused with an *UnsupportedFeatureError naming it; a missing table
// is ErrNotATable.
func (t *Table) Snapshot(ctx context.Context) (*Snapshot, error) {
	seg, files, err := t.latestSegment(ctx)
	if err != nil {
		return nil, err
	}
	return t.load(ctx, seg, files)
}

// SnapshotAt reads the table as of version v (time travel). The version
// must be reconstructible: a checkpoint at or before it, or commit 0, and
// every commit up to it still in the log (ErrVersionNotFound otherwise,
// naming the versions that are, as Delta's "Available versions: [a, b]").
func (t *Table) SnapshotAt(ctx context.Context, v int64) (*Snapshot, error) {
	if v < 0 {
		return nil, fmt.Errorf("%w: version %d is negative", ErrVersionNotFound, v)
	}
	files, err := t.listLog(ctx, 0)
	if err != nil {
		return nil, err
	}
	seg, err := buildSegment(files, v)
	if err != nil {
		if times := fileTimestamps(files); errors.Is(err, ErrVersionNotFound) && len(times) > 0 {
			if earliest, ok := earliestRecreatable(files, times); ok {
				err = fmt.Errorf("%w; available versions: [%d, %d]", err, earliest, times[len(times)-1].version)
			}
		}
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	return t.load(ctx, seg, files)
}

// load replays a segment: the checkpoint, then each commit in order.
func (t *Table) load(ctx context.Context, seg segment, files []logFile) (*Snapshot, error) {
	st := newState()
	if seg.checkpointVersion >= 0 {
		if err := t.readCheckpoint(ctx, seg.checkpoint, st); err != nil {
			return nil, err
		}
	}
	var lastInfo *CommitInfo
	for _, c := range seg.commits {
		actions, err := t.readCommit(ctx, c.version)
		if err != nil {
			return nil, err
		}
		lastInfo = nil
		for _, a := range actions {
			if err := st.applyOwned(a); err != nil {
				return nil, fmt.Errorf("delta: %s: version %d: %w", t, c.version, err)
			}
			if a.CommitInfo != nil {
				lastInfo = a.CommitInfo
			}
		}
	}
	st.version = seg.version
	snap, err := t.newSnapshot(st)
	if err != nil {
		return nil, err
	}
	// The version's commit time. Its commit file is kept even where a
	// checkpoint stands for it (metadata cleanup keeps it).
	var commit *logFile
	for i := range files {
		if files[i].kind == kindCommit && files[i].version == seg.version {
			commit = &files[i]
		}
	}
	if commit != nil {
		snap.timestamp = commit.modTime
	}
	if ictEnabled(*st.protocol, *st.metadata) && lastInfo == nil && commit != nil {
		if actions, err := t.readCommit(ctx, seg.version); err == nil {
			for _, a := range actions {
				if a.CommitInfo != nil {
					lastInfo = a.CommitInfo
				}
			}
		}
	}
	if ictEnabled(*st.protocol, *st.metadata) && lastInfo != nil && lastInfo.InCommitTimestamp != nil {
		snap.timestamp = time.UnixMilli(*lastInfo.InCommitTimestamp)
	}
	return snap, nil
}

// newSnapshot checks a replayed state and wraps it.
func (t *Table) newSnapshot(st *state) (*Snapshot, error) {
	if st.protocol == nil {
		return nil, fmt.Errorf("%w: %s at version %d has no protocol action", errMalformed, t, st.version)
	}
	if st.metadata == nil {
		return nil, fmt.Errorf("%w: %s at version %d has no metaData action", errMalformed, t, st.version)
	}
	schema, err := st.metadata.Schema()
	if err != nil {
		return nil, err
	}
	if err := checkRead(*st.protocol, *st.metadata, schema); err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	return &Snapshot{table: t, st: st, schema: schema}, nil
}

// readCommit reads and parses version v's commit file.
func (t *Table) readCommit(ctx context.Context, v int64) ([]Action, error) {
	data, err := t.store.Get(ctx, t.key(logDir, commitName(v)))
	if err != nil {
		return nil, fmt.Errorf("delta: %s: read version %d: %w", t, v, err)
	}
	actions, err := ParseActions(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: version %d: %w", errMalformed, t, v, err)
	}
	return actions, nil
}

// Update returns the table's latest snapshot, reusing this one: it applies
// only the commits made since (or reloads, if those are gone). It returns s
// itself when nothing was committed.
func (s *Snapshot) Update(ctx context.Context) (*Snapshot, error) {
	t := s.table
	files, err := t.listLog(ctx, s.Version()+1)
	if err != nil {
		return nil, err
	}
	latest := s.Version()
	commits := map[int64]logFile{}
	for _, f := range files {
		if f.kind == kindCommit {
			commits[f.version] = f
			latest = max(latest, f.version)
		}
	}
	if latest == s.Version() {
		return s, nil
	}
	st := s.st.clone()
	var last logFile
	var lastInfo *CommitInfo
	for v := s.Version() + 1; v <= latest; v++ {
		c, ok := commits[v]
		if !ok {
			return t.Snapshot(ctx) // cleaned up meanwhile: read afresh
		}
		actions, err := t.readCommit(ctx, v)
		if errors.Is(err, lake.ErrNotExist) {
			return t.Snapshot(ctx)
		}
		if err != nil {
			return nil, err
		}
		lastInfo = nil
		for _, a := range actions {
			if err := st.applyOwned(a); err != nil {
				return nil, fmt.Errorf("delta: %s: version %d: %w", t, v, err)
			}
			if a.CommitInfo != nil {
				lastInfo = a.CommitInfo
			}
		}
		last = c
	}
	st.version = latest
	snap, err := t.newSnapshot(st)
	if err != nil {
		return nil, err
	}
	snap.timestamp = last.modTime
	if ictEnabled(*st.protocol, *st.metadata) && lastInfo != nil && lastInfo.InCommitTimestamp != nil {
		snap.timestamp = time.UnixMilli(*lastInfo.InCommitTimestamp)
	}
	return snap, nil
}

// ictEnabled reports whether the table records in-commit timestamps: the
// writer feature is supported and the property is true.
func ictEnabled(p Protocol, md Metadata) bool {
	b, _ := confBool(md.Configuration, PropEnableInCommitTimestamps, false)
	return b && slicesContains(writerFeatures(p), "inCommitTimestamp")
}
