package delta

import (
	"context"
	"maps"
	"slices"
	"time"
)

// HistoryEntry is one version of DESCRIBE HISTORY.
type HistoryEntry struct {
	Version int64
	// Timestamp is the commit's time as time travel sees it: its in-commit
	// timestamp, else its file's modification time (made increasing).
	Timestamp time.Time
	// CommitInfo is the version's commitInfo (zero if it has none).
	CommitInfo CommitInfo
}

// History returns the table's commits newest first, at most limit of them
// (all when limit <= 0), as DESCRIBE HISTORY shows them: only versions
// whose commit files are still in the log (metadata cleanup removes old
// ones). It reads any Delta table the reader can read: the versions are
// the log's, not only this package's commits.
func (t *Table) History(ctx context.Context, limit int) ([]HistoryEntry, error) {
	if _, err := t.Snapshot(ctx); err != nil { // refuse what cannot be read
		return nil, err
	}
	files, err := t.listLog(ctx, 0)
	if err != nil {
		return nil, err
	}
	times := fileTimestamps(files)
	slices.Reverse(times)
	if limit > 0 && len(times) > limit {
		times = times[:limit]
	}
	out := make([]HistoryEntry, 0, len(times))
	for _, c := range times {
		actions, err := t.readCommit(ctx, c.version)
		if err != nil {
			return nil, err
		}
		e := HistoryEntry{Version: c.version, Timestamp: time.UnixMilli(c.ms).UTC()}
		for _, a := range actions {
			if a.CommitInfo != nil {
				e.CommitInfo = *a.CommitInfo
			}
		}
		if e.CommitInfo.InCommitTimestamp != nil {
			e.Timestamp = time.UnixMilli(*e.CommitInfo.InCommitTimestamp).UTC()
		}
		out = append(out, e)
	}
	return out, nil
}

// Detail is DESCRIBE DETAIL of a table.
type Detail struct {
	Format           string // "delta"
	ID               string
	Name             string
	Description      string
	Location         string
	CreatedAt        time.Time // metaData.createdTime; zero when absent
	LastModified     time.Time // the latest commit's time
	PartitionColumns []string
	NumFiles         int64
	SizeInBytes      int64
	Properties       map[string]string
	MinReaderVersion int32
	MinWriterVersion int32
	// TableFeatures are the features the protocol lists, or those its
	// versions imply for a table without feature lists.
	TableFeatures []string
	Version       int64
}

// Detail describes the table at its latest version.
func (t *Table) Detail(ctx context.Context) (Detail, error) {
	s, err := t.Snapshot(ctx)
	if err != nil {
		return Detail{}, err
	}
	return s.Detail(), nil
}

// Detail describes the table at this snapshot's version.
func (s *Snapshot) Detail() Detail {
	md, p := s.Metadata(), s.Protocol()
	d := Detail{
		Format:           "delta",
		ID:               md.ID,
		Name:             md.Name,
		Description:      md.Description,
		Location:         s.table.Location(),
		LastModified:     s.timestamp.UTC(),
		PartitionColumns: nonNil(slices.Clone(md.PartitionColumns)),
		NumFiles:         int64(s.NumFiles()),
		SizeInBytes:      s.SizeInBytes(),
		Properties:       maps.Clone(md.Configuration),
		MinReaderVersion: p.MinReaderVersion,
		MinWriterVersion: p.MinWriterVersion,
		Version:          s.Version(),
	}
	if d.Properties == nil {
		d.Properties = map[string]string{}
	}
	if md.CreatedTime != nil {
		d.CreatedAt = time.UnixMilli(*md.CreatedTime).UTC()
	}
	features := map[string]bool{}
	if p.MinReaderVersion == 3 {
		for _, f := range p.ReaderFeatures {
			features[f] = true
		}
	} else if p.MinReaderVersion == 2 {
		features["columnMapping"] = true
	}
	for _, f := range writerFeatures(p) {
		features[f] = true
	}
	d.TableFeatures = slices.Sorted(maps.Keys(features))
	return d
}
