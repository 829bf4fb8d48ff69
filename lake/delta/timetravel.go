package delta

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrTimestampOutOfRange is returned (wrapped) for a time-travel timestamp
// before the earliest version the log can rebuild or after the latest
// commit.
var ErrTimestampOutOfRange = errors.New("delta: timestamp out of the table's history")

// earliestRecreatable is the oldest version a snapshot can be built for:
// 0 if every commit from 0 is there, else the oldest complete checkpoint
// that the kept commits continue.
func earliestRecreatable(files []logFile, times []commitTime) (int64, bool) {
	if len(times) == 0 {
		return 0, false
	}
	// The contiguous run of commits ending at the latest.
	from := times[len(times)-1].version
	for i := len(times) - 2; i >= 0 && times[i].version == from-1; i-- {
		from = times[i].version
	}
	if from == 0 {
		return 0, true
	}
	best := int64(-1)
	for v := range checkpointSets(files) {
		if v >= from-1 && (best < 0 || v < best) {
			best = v
		}
	}
	return best, best >= 0
}

// VersionAsOf returns the version a read as of ts sees, by Delta's rules:
// the latest commit whose timestamp is not after ts. Timestamps are commit
// files' modification times (made increasing), or in-commit timestamps for
// the versions written while the table records them. A ts before the
// earliest version the log can rebuild, or after the latest commit, is
// ErrTimestampOutOfRange.
func (t *Table) VersionAsOf(ctx context.Context, ts time.Time) (int64, error) {
	files, err := t.listLog(ctx, 0)
	if err != nil {
		return 0, err
	}
	times := fileTimestamps(files)
	earliest, ok := earliestRecreatable(files, times)
	if !ok {
		if _, err := buildSegment(files, -1); err != nil {
			return 0, fmt.Errorf("%s: %w", t, err)
		}
		return 0, fmt.Errorf("%w: %s: no version can be rebuilt", ErrVersionNotFound, t)
	}
	i := slices.IndexFunc(times, func(c commitTime) bool { return c.version >= earliest })
	times = times[i:]
	want := ts.UnixMilli()

	// Versions written with in-commit timestamps are searched by those.
	latest, err := t.Snapshot(ctx)
	if err != nil {
		return 0, err
	}
	if ictEnabled(latest.Protocol(), latest.Metadata()) {
		conf := latest.Metadata().Configuration
		enableVer, _ := confInt(conf, PropInCommitTimestampEnablementVer, 0)
		enableTs, _ := confInt(conf, PropInCommitTimestampEnablementTstamp, 0)
		if enableVer <= times[0].version || want >= enableTs {
			return t.versionByICT(ctx, times, max(enableVer, times[0].version), want, ts)
		}
		// Before in-commit timestamps: the file times of the older versions.
		times = slices.DeleteFunc(times, func(c commitTime) bool { return c.version >= enableVer })
	}
	return versionByTime(times, want, ts, t)
}

func versionByTime(times []commitTime, want int64, ts time.Time, t *Table) (int64, error) {
	if len(times) == 0 {
		return 0, fmt.Errorf("%w: %s: no commit to compare %s with", ErrTimestampOutOfRange, t, ts.UTC().Format(time.RFC3339Nano))
	}
	first, last := times[0], times[len(times)-1]
	if want < first.ms {
		return 0, fmt.Errorf("%w: %s: %s is before the earliest available version, %d (%s)", ErrTimestampOutOfRange, t,
			ts.UTC().Format(time.RFC3339Nano), first.version, time.UnixMilli(first.ms).UTC().Format(time.RFC3339Nano))
	}
	if want > last.ms {
		return 0, fmt.Errorf("%w: %s: %s is after the latest version, %d (%s)", ErrTimestampOutOfRange, t,
			ts.UTC().Format(time.RFC3339Nano), last.version, time.UnixMilli(last.ms).UTC().Format(time.RFC3339Nano))
	}
	// The last commit not after want.
	i, _ := slices.BinarySearchFunc(times, want+1, func(c commitTime, target int64) int {
		switch {
		case c.ms < target:
			return -1
		case c.ms > target:
			return 1
		}
		return 0
	})
	return times[i-1].version, nil
}

// versionByICT binary-searches the versions from lo on by their in-commit
// timestamps, reading O(log n) commit files.
func (t *Table) versionByICT(ctx context.Context, times []commitTime, lo int64, want int64, ts time.Time) (int64, error) {
	hi := times[len(times)-1].version
	ict := func(v int64) (int64, error) {
		actions, err := t.readCommit(ctx, v)
		if err != nil {
			return 0, err
		}
		for _, a := range actions {
			if a.CommitInfo != nil && a.CommitInfo.InCommitTimestamp != nil {
				return *a.CommitInfo.InCommitTimestamp, nil
			}
		}
		return 0, fmt.Errorf("%w: %s: version %d has no inCommitTimestamp although the table records them", errMalformed, t, v)
	}
	first, err := ict(lo)
	if err != nil {
		return 0, err
	}
	last, err := ict(hi)
	if err != nil {
		return 0, err
	}
	if want < first {
		return 0, fmt.Errorf("%w: %s: %s is before version %d (%s), the earliest with in-commit timestamps", ErrTimestampOutOfRange, t,
			ts.UTC().Format(time.RFC3339Nano), lo, time.UnixMilli(first).UTC().Format(time.RFC3339Nano))
	}
	if want > last {
		return 0, fmt.Errorf("%w: %s: %s is after the latest version, %d (%s)", ErrTimestampOutOfRange, t,
			ts.UTC().Format(time.RFC3339Nano), hi, time.UnixMilli(last).UTC().Format(time.RFC3339Nano))
	}
	// Invariant: ict(lo) <= want; find the last such version.
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		m, err := ict(mid)
		if err != nil {
			return 0, err
		}
		if m <= want {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, nil
}

// SnapshotAsOf reads the table as of a time (see VersionAsOf).
func (t *Table) SnapshotAsOf(ctx context.Context, ts time.Time) (*Snapshot, error) {
	v, err := t.VersionAsOf(ctx, ts)
	if err != nil {
		return nil, err
	}
	return t.SnapshotAt(ctx, v)
}
