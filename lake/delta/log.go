package delta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sensorlab/sensorlab/lake"
)

// logDir is the log's directory under the table root.
const logDir = "_delta_log"

// The kinds of file in _delta_log.
type fileKind int

const (
	kindOther          fileKind = iota
	kindCommit                  // <v>.json
	kindCheckpoint              // <v>.checkpoint.parquet (classic)
	kindCheckpointPart          // <v>.checkpoint.<o>.<p>.parquet (multi-part)
	kindCheckpointUUID          // <v>.checkpoint.<uuid>.json|parquet (V2, refused)
	kindCompacted               // <x>.<y>.compacted.json (optional; ignored)
	kindChecksum                // <v>.crc
)

// logFile is one object of the log, as listed.
type logFile struct {
	key     string // store key
	kind    fileKind
	version int64
	part    int   // multi-part checkpoint: part o (1-based) ...
	parts   int   // ... of p
	endVer  int64 // compacted: y
	size    int64
	modTime time.Time
}

// commitName is the name of version v's commit file.
func commitName(v int64) string { return fmt.Sprintf("%020d.json", v) }

// checkpointName is the name of version v's classic checkpoint.
func checkpointName(v int64) string { return fmt.Sprintf("%020d.checkpoint.parquet", v) }

// parseLogName classifies a file name of _delta_log (without directory).
func parseLogName(name string) (kind fileKind, version int64, part, parts int, endVer int64) {
	if len(name) < 21 || name[20] != '.' {
		return kindOther, 0, 0, 0, 0
	}
	v, ok := digits(name[:20])
	if !ok {
		return kindOther, 0, 0, 0, 0
	}
	rest := name[21:]
	switch {
	case rest == "json":
		return kindCommit, v, 0, 0, 0
	case rest == "crc":
		return kindChecksum, v, 0, 0, 0
	case rest == "checkpoint.parquet":
		return kindCheckpoint, v, 0, 0, 0
	case strings.HasPrefix(rest, "checkpoint."):
		mid := strings.TrimPrefix(rest, "checkpoint.")
		if p := strings.Split(mid, "."); len(p) == 3 && p[2] == "parquet" && len(p[0]) == 10 && len(p[1]) == 10 {
			o, ok1 := digits(p[0])
			n, ok2 := digits(p[1])
			if ok1 && ok2 && o >= 1 && o <= n {
				return kindCheckpointPart, v, int(o), int(n), 0
			}
		}
		if strings.HasSuffix(mid, ".json") || strings.HasSuffix(mid, ".parquet") {
			return kindCheckpointUUID, v, 0, 0, 0
		}
	case len(rest) == len("00000000000000000000.compacted.json") && strings.HasSuffix(rest, ".compacted.json"):
		if y, ok := digits(rest[:20]); ok {
			return kindCompacted, v, 0, 0, y
		}
	}
	return kindOther, 0, 0, 0, 0
}

func digits(s string) (int64, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// listBlock is how many versions one List call covers when the log is
// listed from a version: keys share their first 18 digits. (lake.Store has
// no "list from"; a prefix of the zero-padded name does the same.)
const listBlock = 100

// listLog lists the log's files of version from onwards, sorted by key.
// With from <= 0 it lists the whole directory; otherwise it lists blocks of
// listBlock versions from the one holding from, and goes on to the next
// block only while the last version of a block exists, so that reading the
// tail of a long log costs one or two List calls, not one per thousand
// files.
func (t *Table) listLog(ctx context.Context, from int64) ([]logFile, error) {
	dir := t.key(logDir) + "/"
	collect := func(prefix string, out []logFile) ([]logFile, bool, error) {
		objs, err := t.store.List(ctx, prefix)
		if err != nil {
			return nil, false, fmt.Errorf("delta: list %s: %w", t, err)
		}
		sawLast := false
		for _, o := range objs {
			name := strings.TrimPrefix(o.Key, dir)
			if strings.Contains(name, "/") {
				continue // _sidecars/, _staged_commits/: not this package's
			}
			kind, v, part, parts, end := parseLogName(name)
			if kind == kindOther || v < from {
				continue
			}
			if from > 0 && v%listBlock == listBlock-1 {
				sawLast = true
			}
			out = append(out, logFile{key: o.Key, kind: kind, version: v, part: part, parts: parts,
				endVer: end, size: o.Size, modTime: o.ModTime})
		}
		return out, sawLast, nil
	}
	if from <= 0 {
		out, _, err := collect(dir, nil)
		return out, err
	}
	var out []logFile
	for block := from / listBlock; ; block++ {
		var more bool
		var err error
		out, more, err = collect(fmt.Sprintf("%s%018d", dir, block), out)
		if err != nil {
			return nil, err
		}
		if !more {
			return out, nil
		}
	}
}

// segment is what a snapshot is read from: a checkpoint (if any) and the
// commits after it, up to the snapshot's version.
type segment struct {
	version           int64
	checkpointVersion int64     // -1: none, replay from version 0
	checkpoint        []logFile // its parts, in order
	commits           []logFile // checkpointVersion+1 .. version, contiguous
}

// ErrNotATable is returned (wrapped) when the table has no log: no
// _delta_log/<v>.json and no checkpoint.
var ErrNotATable = errors.New("delta: not a Delta table (no _delta_log)")

// ErrVersionNotFound is returned (wrapped) for a version the log cannot
// reconstruct: newer than the latest, or older than the oldest kept.
var ErrVersionNotFound = errors.New("delta: version not available")

// checkpointSets groups the checkpoint files of a listing by version,
// keeping the complete ones: a classic checkpoint, or a multi-part one with
// all its parts (the protocol says to ignore one with a part missing). A
// classic one is preferred when both exist.
func checkpointSets(files []logFile) map[int64][]logFile {
	out := map[int64][]logFile{}
	multi := map[[2]int64][]logFile{} // (version, parts) -> parts seen
	for _, f := range files {
		switch f.kind {
		case kindCheckpoint:
			out[f.version] = []logFile{f}
		case kindCheckpointPart:
			k := [2]int64{f.version, int64(f.parts)}
			multi[k] = append(multi[k], f)
		}
	}
	for k, parts := range multi {
		if _, classic := out[k[0]]; classic {
			continue
		}
		slices.SortFunc(parts, func(a, b logFile) int { return a.part - b.part })
		parts = slices.CompactFunc(parts, func(a, b logFile) bool { return a.part == b.part })
		if len(parts) == int(k[1]) {
			out[k[0]] = parts
		}
	}
	return out
}

// buildSegment picks, from a listing, what version target (or the latest,
// when target < 0) is read from: the newest complete checkpoint not newer
// than it, and every commit after that checkpoint.
func buildSegment(files []logFile, target int64) (segment, error) {
	commits := map[int64]logFile{}
	latest := int64(-1)
	uuidCheckpoint := int64(-1)
	for _, f := range files {
		switch f.kind {
		case kindCommit:
			commits[f.version] = f
			latest = max(latest, f.version)
		case kindCheckpoint, kindCheckpointPart:
			latest = max(latest, f.version)
		case kindCheckpointUUID:
			uuidCheckpoint = max(uuidCheckpoint, f.version)
		}
	}
	if latest < 0 {
		if uuidCheckpoint >= 0 {
			return segment{}, &UnsupportedFeatureError{Feature: "v2Checkpoint", Reader: true,
				Detail: "the log holds only UUID-named (V2) checkpoints"}
		}
		return segment{}, ErrNotATable
	}
	if target < 0 {
		target = latest
	}
	if target > latest {
		return segment{}, fmt.Errorf("%w: version %d is newer than the latest, %d", ErrVersionNotFound, target, latest)
	}
	seg := segment{version: target, checkpointVersion: -1}
	sets := checkpointSets(files)
	for v, parts := range sets {
		if v <= target && v > seg.checkpointVersion {
			seg.checkpointVersion, seg.checkpoint = v, parts
		}
	}
	for v := seg.checkpointVersion + 1; v <= target; v++ {
		c, ok := commits[v]
		if !ok {
			if uuidCheckpoint >= 0 && uuidCheckpoint <= target {
				return segment{}, &UnsupportedFeatureError{Feature: "v2Checkpoint", Reader: true,
					Detail: fmt.Sprintf("version %d is only reachable through a UUID-named (V2) checkpoint", target)}
			}
			if seg.checkpointVersion < 0 && v == 0 {
				return segment{}, fmt.Errorf("%w: version %d: the log has no checkpoint at or before it and no commit 0 (cleaned up)", ErrVersionNotFound, target)
			}
			return segment{}, fmt.Errorf("%w: version %d: commit %d is missing from the log", ErrVersionNotFound, target, v)
		}
		seg.commits = append(seg.commits, c)
	}
	return seg, nil
}

// lastCheckpoint is _delta_log/_last_checkpoint.
type lastCheckpoint struct {
	Version       int64  `json:"version"`
	Size          int64  `json:"size"`
	Parts         *int   `json:"parts,omitempty"`
	SizeInBytes   *int64 `json:"sizeInBytes,omitempty"`
	NumOfAddFiles *int64 `json:"numOfAddFiles,omitempty"`
}

// readLastCheckpoint returns the _last_checkpoint hint; ok is false when
// there is none or it cannot be used (readers then list the whole log, so a
// damaged hint costs time, never correctness).
func (t *Table) readLastCheckpoint(ctx context.Context) (lc lastCheckpoint, ok bool, err error) {
	data, err := t.store.Get(ctx, t.key(logDir, "_last_checkpoint"))
	if errors.Is(err, lake.ErrNotExist) {
		return lastCheckpoint{}, false, nil
	}
	if err != nil {
		return lastCheckpoint{}, false, fmt.Errorf("delta: %s: read _last_checkpoint: %w", t, err)
	}
	if json.Unmarshal(data, &lc) != nil || lc.Version < 0 {
		return lastCheckpoint{}, false, nil
	}
	return lc, true, nil
}

// latestSegment finds the newest version's segment: from _last_checkpoint's
// version when there is one (listing only the tail of the log), else, or if
// that listing does not give a usable segment, from the whole log.
func (t *Table) latestSegment(ctx context.Context) (segment, []logFile, error) {
	lc, ok, err := t.readLastCheckpoint(ctx)
	if err != nil {
		return segment{}, nil, err
	}
	if ok && lc.Version > 0 {
		files, err := t.listLog(ctx, lc.Version)
		if err != nil {
			return segment{}, nil, err
		}
		if seg, err := buildSegment(files, -1); err == nil && seg.checkpointVersion >= lc.Version {
			return seg, files, nil
		}
		// The hint names a checkpoint that is gone or incomplete: list all.
	}
	files, err := t.listLog(ctx, 0)
	if err != nil {
		return segment{}, nil, err
	}
	seg, err := buildSegment(files, -1)
	if err != nil {
		return segment{}, nil, fmt.Errorf("%s: %w", t, err)
	}
	return seg, files, nil
}

// commitTime is a version and the time it was committed, in milliseconds.
type commitTime struct {
	version int64
	ms      int64
}

// fileTimestamps returns the listed commits in version order with their
// timestamps as Delta reads them from file modification times: made
// strictly increasing (a commit not later than the one before it counts as
// one millisecond after it), since clocks and stores can disagree.
func fileTimestamps(files []logFile) []commitTime {
	var out []commitTime
	for _, f := range files {
		if f.kind == kindCommit {
			out = append(out, commitTime{f.version, f.modTime.UnixMilli()})
		}
	}
	slices.SortFunc(out, func(a, b commitTime) int { return int(a.version - b.version) })
	for i := 1; i < len(out); i++ {
		if out[i].ms <= out[i-1].ms {
			out[i].ms = out[i-1].ms + 1
		}
	}
	return out
}
