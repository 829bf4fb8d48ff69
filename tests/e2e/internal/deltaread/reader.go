// Package deltaread is the end-to-end tests' own reader of Delta tables,
// written from PROTOCOL.md of delta-io/delta and sharing no code with
// lake/delta, the writer it checks. Two readers written apart that agree on
// a table are evidence that the table follows the protocol, not just what
// one implementation expects.
//
// It reads what a snapshot is made of: _delta_log/_last_checkpoint, the
// newest complete checkpoint at or before the version asked for (classic or
// multi-part Parquet, read column by column by path, whatever names a writer
// gave the inner fields of its maps and lists), then every JSON commit after
// it; and it reconciles them by the protocol's rules (Action Reconciliation):
// the latest protocol and metaData win, the latest txn version per appId
// wins, and the newest add or remove of a logical file (path and deletion
// vector) decides whether it is live or a tombstone.
//
// Invariants:
//   - Versions are contiguous from the checkpoint (or version 0) to the
//     version read; a gap is an error, never a partial snapshot.
//   - A multi-part checkpoint with a missing part is ignored, as the protocol
//     requires; so is any checkpoint newer than the version read.
//   - A table that needs a reader feature this package does not implement
//     (column mapping, deletion vectors, V2 checkpoints, ...) is refused
//     with an error naming the feature.
//   - A commit that holds two actions of one type for one logical file, or
//     an add and a remove of the same one, is an error: the protocol calls
//     it invalid, and a writer that produces one is what these tests look for.
//   - Unknown actions and fields are ignored.
package deltaread

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/sensorlab/sensorlab/lake"
)

// Store is what the reader needs of a lake: listing and reading objects.
// lake.Store has both.
type Store interface {
	List(ctx context.Context, prefix string) ([]lake.ObjectInfo, error)
	Get(ctx context.Context, key string) ([]byte, error)
}

// File is a live logical file: an add action after reconciliation.
type File struct {
	// Path is the add action's path as the log holds it (a URI reference).
	Path string
	// Key is the data file's path relative to the table root, decoded
	// (empty for an absolute URI, which names a file elsewhere).
	Key string
	// PartitionValues are the serialized values; "" is null.
	PartitionValues  map[string]string
	Size             int64
	ModificationTime int64
	DataChange       bool
	// StatsJSON is the stats string ("" when absent); Stats its parse.
	StatsJSON string
	Stats     *Stats
	// DV is the deletion vector's unique id ("" for none).
	DV string
	// Version is the version whose add this is (the checkpoint's version
	// for an add read from a checkpoint).
	Version int64
}

// Tombstone is a remove action still in the state.
type Tombstone struct {
	Path, Key string
	// DeletionTimestamp is in milliseconds; 0 when absent.
	DeletionTimestamp int64
	DataChange        bool
	DV                string
	Version           int64
}

// Stats is a file's per-file statistics. Numbers keep their JSON text
// (json.Number), so that nothing is lost before a test compares them.
type Stats struct {
	NumRecords  int64          `json:"numRecords"`
	MinValues   map[string]any `json:"minValues"`
	MaxValues   map[string]any `json:"maxValues"`
	NullCount   map[string]any `json:"nullCount"`
	TightBounds *bool          `json:"tightBounds"`
}

// Protocol is the protocol action.
type Protocol struct {
	MinReaderVersion int64
	MinWriterVersion int64
	ReaderFeatures   []string
	WriterFeatures   []string
}

// Metadata is the metaData action, its schema parsed.
type Metadata struct {
	ID, Name, Description string
	Provider              string
	SchemaString          string
	Schema                []Field
	PartitionColumns      []string
	Configuration         map[string]string
	CreatedTime           int64 // milliseconds; 0 when absent
}

// Snapshot is a table at one version.
type Snapshot struct {
	Version  int64
	Protocol Protocol
	Metadata Metadata
	// Files are the live logical files by path and deletion vector
	// (FileKey); Tombstones likewise.
	Files      map[string]File
	Tombstones map[string]Tombstone
	// Txns is the latest version per application id.
	Txns map[string]int64
	// Checkpoint is the version of the checkpoint the replay started from
	// (-1: none, from version 0), CheckpointParts its number of parts and
	// CheckpointActions the number of actions it held.
	Checkpoint        int64
	CheckpointParts   int
	CheckpointActions int
	// LastCheckpoint is _delta_log/_last_checkpoint as read (nil when absent).
	LastCheckpoint *LastCheckpoint
	// Commits are the versions whose JSON files were replayed, in order.
	Commits []int64
	// CommitInfo is the commitInfo of this version's commit file (nil when
	// it has none or the file was not read).
	CommitInfo map[string]any
}

// LastCheckpoint is the _last_checkpoint file.
type LastCheckpoint struct {
	Version       int64  `json:"version"`
	Size          *int64 `json:"size"`
	Parts         *int64 `json:"parts"`
	SizeInBytes   *int64 `json:"sizeInBytes"`
	NumOfAddFiles *int64 `json:"numOfAddFiles"`
}

// FileKey is the key of a logical file: its path and deletion vector.
func FileKey(path, dv string) string {
	if dv == "" {
		return path
	}
	return path + "\x00" + dv
}

// LiveFiles returns the live files sorted by path.
func (s *Snapshot) LiveFiles() []File {
	out := make([]File, 0, len(s.Files))
	for _, f := range s.Files {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Options changes how a snapshot is read.
type Options struct {
	// Version is the version to read; negative reads the latest.
	Version int64
	// NoCheckpoint replays JSON commits only, from version 0 (which must
	// still be in the log): tests compare that with the checkpoint's state.
	NoCheckpoint bool
}

// Latest reads the table's latest version.
func Latest(ctx context.Context, st Store, root string) (*Snapshot, error) {
	return Read(ctx, st, root, Options{Version: -1})
}

// At reads the table as of version v, by replay (time travel).
func At(ctx context.Context, st Store, root string, v int64) (*Snapshot, error) {
	return Read(ctx, st, root, Options{Version: v})
}

// ErrNoTable is returned when root has no Delta log.
var ErrNoTable = errors.New("deltaread: no Delta log")

// logDir returns the key prefix of a table's log.
func logDir(root string) string {
	if root = strings.Trim(root, "/"); root == "" {
		return "_delta_log/"
	}
	return root + "/_delta_log/"
}

var (
	reCommit     = regexp.MustCompile(`^(\d{20})\.json$`)
	reCheckpoint = regexp.MustCompile(`^(\d{20})\.checkpoint\.parquet$`)
	reMultiPart  = regexp.MustCompile(`^(\d{20})\.checkpoint\.(\d{10})\.(\d{10})\.parquet$`)
)

// listing is what the log directory holds.
type listing struct {
	commits map[int64]string
	// parts: version -> number of parts -> part number -> key. A classic
	// checkpoint is one part of one.
	parts map[int64]map[int]map[int]string
}

func list(ctx context.Context, st Store, dir string) (*listing, error) {
	objs, err := st.List(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	l := &listing{commits: map[int64]string{}, parts: map[int64]map[int]map[int]string{}}
	addPart := func(v int64, n, i int, key string) {
		if l.parts[v] == nil {
			l.parts[v] = map[int]map[int]string{}
		}
		if l.parts[v][n] == nil {
			l.parts[v][n] = map[int]string{}
		}
		l.parts[v][n][i] = key
	}
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, dir)
		if strings.Contains(name, "/") {
			continue // _staged_commits/, _sidecars/
		}
		if m := reCommit.FindStringSubmatch(name); m != nil {
			l.commits[atoi(m[1])] = o.Key
		} else if m := reCheckpoint.FindStringSubmatch(name); m != nil {
			addPart(atoi(m[1]), 1, 1, o.Key)
		} else if m := reMultiPart.FindStringSubmatch(name); m != nil {
			addPart(atoi(m[1]), int(atoi(m[3])), int(atoi(m[2])), o.Key)
		}
	}
	return l, nil
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// complete returns the keys of a complete checkpoint of version v, in part
// order (the one with fewest parts when several are complete).
func (l *listing) complete(v int64) []string {
	var ns []int
	for n := range l.parts[v] {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	for _, n := range ns {
		got := l.parts[v][n]
		if len(got) != n {
			continue
		}
		keys := make([]string, 0, n)
		for i := 1; i <= n; i++ {
			k, ok := got[i]
			if !ok {
				break
			}
			keys = append(keys, k)
		}
		if len(keys) == n {
			return keys
		}
	}
	return nil
}

// Read reads a snapshot of the table rooted at root.
func Read(ctx context.Context, st Store, root string, opt Options) (*Snapshot, error) {
	dir := logDir(root)
	l, err := list(ctx, st, dir)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{Checkpoint: -1, Files: map[string]File{}, Tombstones: map[string]Tombstone{}, Txns: map[string]int64{}}

	if b, err := st.Get(ctx, dir+"_last_checkpoint"); err == nil {
		var lc LastCheckpoint
		if err := json.Unmarshal(bytes.TrimSpace(b), &lc); err != nil {
			return nil, fmt.Errorf("%s_last_checkpoint: %w", dir, err)
		}
		snap.LastCheckpoint = &lc
	}

	// The latest version is the newest commit or complete checkpoint.
	latest := int64(-1)
	for v := range l.commits {
		latest = max(latest, v)
	}
	for v := range l.parts {
		if l.complete(v) != nil {
			latest = max(latest, v)
		}
	}
	if latest < 0 {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoTable)
	}
	target := opt.Version
	if target < 0 {
		target = latest
	}
	if target > latest {
		return nil, fmt.Errorf("%s: version %d is newer than the latest, %d", dir, target, latest)
	}
	snap.Version = target

	// The newest complete checkpoint at or before the target. For the
	// latest version, _last_checkpoint points at it (a stale one at an
	// older checkpoint is allowed: listing finds the newer).
	start := int64(-1)
	var ckKeys []string
	if !opt.NoCheckpoint {
		if lc := snap.LastCheckpoint; lc != nil && lc.Version <= target {
			if keys := l.complete(lc.Version); keys != nil {
				start, ckKeys = lc.Version, keys
			}
		}
		for v := range l.parts {
			if v > start && v <= target {
				if keys := l.complete(v); keys != nil {
					start, ckKeys = v, keys
				}
			}
		}
	}
	s := newState()
	if start >= 0 {
		var all []action
		for _, k := range ckKeys {
			b, err := st.Get(ctx, k)
			if err != nil {
				return nil, fmt.Errorf("checkpoint %s: %w", k, err)
			}
			acts, err := readCheckpoint(b)
			if err != nil {
				return nil, fmt.Errorf("checkpoint %s: %w", k, err)
			}
			all = append(all, acts...)
		}
		if err := checkCheckpoint(all); err != nil {
			return nil, fmt.Errorf("checkpoint %d (%d parts): %w", start, len(ckKeys), err)
		}
		s.apply(start, all)
		snap.Checkpoint, snap.CheckpointParts, snap.CheckpointActions = start, len(ckKeys), len(all)
	}
	for v := start + 1; v <= target; v++ {
		key, ok := l.commits[v]
		if !ok {
			if start < 0 && !opt.NoCheckpoint {
				return nil, fmt.Errorf("%s: version %d cannot be rebuilt: no checkpoint at or before it and commit %d is missing", dir, target, v)
			}
			return nil, fmt.Errorf("%s: commit %d is missing (replaying from %d to %d)", dir, v, start, target)
		}
		b, err := st.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("commit %s: %w", key, err)
		}
		acts, info, err := parseCommit(b)
		if err != nil {
			return nil, fmt.Errorf("commit %s: %w", key, err)
		}
		if err := checkCommit(acts); err != nil {
			return nil, fmt.Errorf("commit %s: %w", key, err)
		}
		s.apply(v, acts)
		snap.Commits = append(snap.Commits, v)
		if v == target {
			snap.CommitInfo = info
		}
	}
	// A checkpoint keeps no commitInfo: it is read from the version's
	// commit file, when the log still has it.
	if start == target {
		if key, ok := l.commits[target]; ok {
			b, err := st.Get(ctx, key)
			if err != nil {
				return nil, fmt.Errorf("commit %s: %w", key, err)
			}
			if _, snap.CommitInfo, err = parseCommit(b); err != nil {
				return nil, fmt.Errorf("commit %s: %w", key, err)
			}
		}
	}
	if s.protocol == nil {
		return nil, fmt.Errorf("%s at version %d: no protocol action", dir, target)
	}
	if s.metadata == nil {
		return nil, fmt.Errorf("%s at version %d: no metaData action", dir, target)
	}
	if err := supported(*s.protocol, *s.metadata); err != nil {
		return nil, fmt.Errorf("%s at version %d: %w", dir, target, err)
	}
	snap.Protocol, snap.Metadata = *s.protocol, *s.metadata
	snap.Files, snap.Tombstones, snap.Txns = s.files, s.tombstones, s.txns
	return snap, nil
}

// action is one action of a commit or a checkpoint row, already decoded;
// exactly one field is set (none for an action this reader ignores).
type action struct {
	add      *File
	remove   *Tombstone
	txn      *txn
	protocol *Protocol
	metadata *Metadata
}

type txn struct {
	appID   string
	version int64
}

// state is the reconciliation in progress.
type state struct {
	protocol   *Protocol
	metadata   *Metadata
	files      map[string]File
	tombstones map[string]Tombstone
	txns       map[string]int64
}

func newState() *state {
	return &state{files: map[string]File{}, tombstones: map[string]Tombstone{}, txns: map[string]int64{}}
}

// apply applies the actions of one version (a commit, or a checkpoint's
// part) in order: the newest reference to a logical file wins.
func (s *state) apply(v int64, acts []action) {
	for _, a := range acts {
		switch {
		case a.add != nil:
			f := *a.add
			f.Version = v
			k := FileKey(f.Path, f.DV)
			delete(s.tombstones, k)
			s.files[k] = f
		case a.remove != nil:
			r := *a.remove
			r.Version = v
			k := FileKey(r.Path, r.DV)
			delete(s.files, k)
			s.tombstones[k] = r
		case a.txn != nil:
			s.txns[a.txn.appID] = a.txn.version
		case a.protocol != nil:
			p := *a.protocol
			s.protocol = &p
		case a.metadata != nil:
			m := *a.metadata
			s.metadata = &m
		}
	}
}

// checkCommit refuses what the protocol calls an invalid commit: two file
// actions of one type for one path, an add and a remove of the same logical
// file, or more than one metaData or protocol action.
func checkCommit(acts []action) error {
	adds, removes := map[string]bool{}, map[string]bool{}
	var mds, protos int
	for _, a := range acts {
		switch {
		case a.add != nil:
			if adds[a.add.Path] {
				return fmt.Errorf("two add actions for %s", a.add.Path)
			}
			adds[a.add.Path] = true
		case a.remove != nil:
			if removes[a.remove.Path] {
				return fmt.Errorf("two remove actions for %s", a.remove.Path)
			}
			removes[a.remove.Path] = true
		case a.metadata != nil:
			mds++
		case a.protocol != nil:
			protos++
		}
	}
	for _, a := range acts {
		if a.add != nil && a.add.DV == "" && removes[a.add.Path] {
			for _, b := range acts {
				if b.remove != nil && b.remove.Path == a.add.Path && b.remove.DV == "" {
					return fmt.Errorf("adds and removes the same logical file %s", a.add.Path)
				}
			}
		}
	}
	if mds > 1 || protos > 1 {
		return fmt.Errorf("%d metaData and %d protocol actions: at most one of each", mds, protos)
	}
	return nil
}

// decodePath turns a path of the log into a key relative to the table
// root: a relative URI reference is percent-decoded ("+" stays "+": it is
// a path, not a form value); an absolute URI has no key here.
func decodePath(p string) (string, error) {
	if u, err := url.Parse(p); err == nil && u.Scheme != "" {
		return "", nil
	}
	return url.PathUnescape(p)
}

// readerFeatures are the reader features this reader implements: none of
// them changes how files are found or read here.
var readerFeatures = []string{"timestampNtz", "vacuumProtocolCheck"}

// supported refuses a table this reader cannot read correctly.
func supported(p Protocol, md Metadata) error {
	switch {
	case p.MinReaderVersion > 3:
		return fmt.Errorf("reader version %d is not implemented (1 to 3 are)", p.MinReaderVersion)
	case p.MinReaderVersion == 3:
		for _, f := range p.ReaderFeatures {
			if !slices.Contains(readerFeatures, f) {
				return fmt.Errorf("reader feature %s is not implemented", f)
			}
		}
	}
	if m := md.Configuration["delta.columnMapping.mode"]; m != "" && m != "none" {
		return fmt.Errorf("column mapping (mode %s) is not implemented", m)
	}
	if md.Provider != "parquet" {
		return fmt.Errorf("format %q: only parquet data files are read", md.Provider)
	}
	return nil
}

// parseStats reads an add's stats string.
func parseStats(s string) (*Stats, error) {
	if s == "" {
		return nil, nil
	}
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var st Stats
	if err := d.Decode(&st); err != nil {
		return nil, fmt.Errorf("stats %q: %w", s, err)
	}
	return &st, nil
}

// checkCheckpoint refuses a checkpoint whose parts together do not hold a
// reconciled state: exactly one protocol and one metaData, each logical
// file once, as a live file or as a tombstone.
func checkCheckpoint(acts []action) error {
	seen := map[string]string{}
	var mds, protos int
	for _, a := range acts {
		var k, kind string
		switch {
		case a.add != nil:
			k, kind = FileKey(a.add.Path, a.add.DV), "add"
		case a.remove != nil:
			k, kind = FileKey(a.remove.Path, a.remove.DV), "remove"
		case a.metadata != nil:
			mds++
			continue
		case a.protocol != nil:
			protos++
			continue
		default:
			continue
		}
		if prev, dup := seen[k]; dup {
			return fmt.Errorf("%s %q after %s of the same logical file: a checkpoint holds each once", kind, k, prev)
		}
		seen[k] = kind
	}
	if mds != 1 || protos != 1 {
		return fmt.Errorf("%d metaData and %d protocol actions, want one of each", mds, protos)
	}
	return nil
}

// Commit is one JSON commit of the log, as written: its commitInfo and its
// file and txn actions (not reconciled).
type Commit struct {
	Version    int64
	CommitInfo map[string]any
	Adds       []File
	Removes    []Tombstone
	Txns       map[string]int64
	Metadata   *Metadata
	Protocol   *Protocol
}

// Operation is commitInfo.operation ("" when absent).
func (c Commit) Operation() string {
	s, _ := c.CommitInfo["operation"].(string)
	return s
}

// History reads every JSON commit the log still holds, oldest first.
func History(ctx context.Context, st Store, root string) ([]Commit, error) {
	dir := logDir(root)
	l, err := list(ctx, st, dir)
	if err != nil {
		return nil, err
	}
	vs := make([]int64, 0, len(l.commits))
	for v := range l.commits {
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoTable)
	}
	slices.Sort(vs)
	out := make([]Commit, 0, len(vs))
	for _, v := range vs {
		b, err := st.Get(ctx, l.commits[v])
		if err != nil {
			return nil, fmt.Errorf("commit %s: %w", l.commits[v], err)
		}
		acts, info, err := parseCommit(b)
		if err != nil {
			return nil, fmt.Errorf("commit %s: %w", l.commits[v], err)
		}
		c := Commit{Version: v, CommitInfo: info, Txns: map[string]int64{}}
		for _, a := range acts {
			switch {
			case a.add != nil:
				c.Adds = append(c.Adds, *a.add)
			case a.remove != nil:
				c.Removes = append(c.Removes, *a.remove)
			case a.txn != nil:
				c.Txns[a.txn.appID] = a.txn.version
			case a.metadata != nil:
				c.Metadata = a.metadata
			case a.protocol != nil:
				c.Protocol = a.protocol
			}
		}
		out = append(out, c)
	}
	return out, nil
}
