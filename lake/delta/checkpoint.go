package delta

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/parquet-go/parquet-go"
)

// The checkpoint's Parquet schema, as the protocol's appendix gives it:
// one optional struct column per action, every field optional, maps of
// string to (optional) string, lists of string. parquet-go writes lists as
// list/element and maps as key_value/key/value, the standard layout Spark
// writes and reads.
type ckRow struct {
	Txn            *ckTxn            `parquet:"txn,optional"`
	Add            *ckAdd            `parquet:"add,optional"`
	Remove         *ckRemove         `parquet:"remove,optional"`
	MetaData       *ckMetadata       `parquet:"metaData,optional"`
	Protocol       *ckProtocol       `parquet:"protocol,optional"`
	DomainMetadata *ckDomainMetadata `parquet:"domainMetadata,optional"`
}

type ckTxn struct {
	AppID       *string `parquet:"appId,optional"`
	Version     *int64  `parquet:"version,optional"`
	LastUpdated *int64  `parquet:"lastUpdated,optional"`
}

type ckAdd struct {
	Path             *string            `parquet:"path,optional"`
	PartitionValues  map[string]*string `parquet:"partitionValues,optional"`
	Size             *int64             `parquet:"size,optional"`
	ModificationTime *int64             `parquet:"modificationTime,optional"`
	DataChange       *bool              `parquet:"dataChange,optional"`
	Stats            *string            `parquet:"stats,optional"`
	Tags             map[string]*string `parquet:"tags,optional"`
}

// ckRemove has no stats and tags: checkpoint tombstones only serve VACUUM.
type ckRemove struct {
	Path                 *string            `parquet:"path,optional"`
	DeletionTimestamp    *int64             `parquet:"deletionTimestamp,optional"`
	DataChange           *bool              `parquet:"dataChange,optional"`
	ExtendedFileMetadata *bool              `parquet:"extendedFileMetadata,optional"`
	PartitionValues      map[string]*string `parquet:"partitionValues,optional"`
	Size                 *int64             `parquet:"size,optional"`
}

type ckFormat struct {
	Provider *string            `parquet:"provider,optional"`
	Options  map[string]*string `parquet:"options,optional"`
}

type ckMetadata struct {
	ID               *string            `parquet:"id,optional"`
	Name             *string            `parquet:"name,optional"`
	Description      *string            `parquet:"description,optional"`
	Format           *ckFormat          `parquet:"format,optional"`
	SchemaString     *string            `parquet:"schemaString,optional"`
	PartitionColumns []string           `parquet:"partitionColumns,optional,list"`
	CreatedTime      *int64             `parquet:"createdTime,optional"`
	Configuration    map[string]*string `parquet:"configuration,optional"`
}

// ckProtocol: the feature lists are null unless the versions are 3 and 7,
// as the protocol asks.
type ckProtocol struct {
	MinReaderVersion *int32   `parquet:"minReaderVersion,optional"`
	MinWriterVersion *int32   `parquet:"minWriterVersion,optional"`
	ReaderFeatures   []string `parquet:"readerFeatures,optional,list"`
	WriterFeatures   []string `parquet:"writerFeatures,optional,list"`
}

type ckDomainMetadata struct {
	Domain        *string `parquet:"domain,optional"`
	Configuration *string `parquet:"configuration,optional"`
	Removed       *bool   `parquet:"removed,optional"`
}

func ptr[T any](v T) *T { return &v }

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func stringMap(m map[string]string) map[string]*string {
	if m == nil {
		return nil
	}
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = optString(v) // "" is a null partition value
	}
	return out
}

func stringMapNonNull(m map[string]string) map[string]*string {
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = ptr(v)
	}
	return out
}

// checkpointRows lays out a state as checkpoint rows: protocol, metaData,
// txns, domains, live files (as data-unchanging adds, as Spark writes
// them) and the tombstones not yet expired at expireBefore (ms). Every
// group is sorted, so the same state gives the same file.
func checkpointRows(st *state, expireBefore int64, withStats bool) (rows []ckRow, numAdds int) {
	p := st.protocol
	cp := &ckProtocol{MinReaderVersion: ptr(p.MinReaderVersion), MinWriterVersion: ptr(p.MinWriterVersion)}
	if p.MinReaderVersion == 3 {
		cp.ReaderFeatures = nonNil(p.ReaderFeatures)
	}
	if p.MinWriterVersion == 7 {
		cp.WriterFeatures = nonNil(p.WriterFeatures)
	}
	rows = append(rows, ckRow{Protocol: cp})
	m := st.metadata
	rows = append(rows, ckRow{MetaData: &ckMetadata{
		ID: ptr(m.ID), Name: optString(m.Name), Description: optString(m.Description),
		Format:           &ckFormat{Provider: ptr(m.Format.Provider), Options: stringMapNonNull(m.Format.Options)},
		SchemaString:     ptr(m.SchemaString),
		PartitionColumns: nonNil(m.PartitionColumns),
		CreatedTime:      m.CreatedTime,
		Configuration:    stringMapNonNull(m.Configuration),
	}})
	txns := make([]Txn, 0, len(st.txns))
	for _, t := range st.txns {
		txns = append(txns, t)
	}
	slices.SortFunc(txns, func(a, b Txn) int { return cmp.Compare(a.AppID, b.AppID) })
	for _, t := range txns {
		rows = append(rows, ckRow{Txn: &ckTxn{AppID: ptr(t.AppID), Version: ptr(t.Version), LastUpdated: t.LastUpdated}})
	}
	domains := make([]DomainMetadata, 0, len(st.domains))
	for _, d := range st.domains {
		domains = append(domains, d)
	}
	slices.SortFunc(domains, func(a, b DomainMetadata) int { return cmp.Compare(a.Domain, b.Domain) })
	for _, d := range domains {
		rows = append(rows, ckRow{DomainMetadata: &ckDomainMetadata{Domain: ptr(d.Domain),
			Configuration: ptr(d.Configuration), Removed: ptr(false)}})
	}
	adds := make([]*Add, 0, len(st.files))
	for _, a := range st.files {
		adds = append(adds, a)
	}
	slices.SortFunc(adds, func(a, b *Add) int { return cmp.Compare(a.Path, b.Path) })
	for _, a := range adds {
		ca := &ckAdd{Path: ptr(a.Path), PartitionValues: stringMap(a.PartitionValues),
			Size: ptr(a.Size), ModificationTime: ptr(a.ModificationTime), DataChange: ptr(false)}
		if a.Tags != nil {
			ca.Tags = stringMapNonNull(a.Tags)
		}
		if ca.PartitionValues == nil {
			ca.PartitionValues = map[string]*string{}
		}
		if withStats {
			ca.Stats = optString(a.Stats)
		}
		rows = append(rows, ckRow{Add: ca})
	}
	removes := make([]*Remove, 0, len(st.tombstones))
	for _, r := range st.tombstones {
		if r.DeletionTimestamp != nil && *r.DeletionTimestamp > expireBefore {
			removes = append(removes, r)
		}
	}
	slices.SortFunc(removes, func(a, b *Remove) int { return cmp.Compare(a.Path, b.Path) })
	for _, r := range removes {
		rows = append(rows, ckRow{Remove: &ckRemove{Path: ptr(r.Path), DeletionTimestamp: r.DeletionTimestamp,
			DataChange: ptr(r.DataChange), ExtendedFileMetadata: r.ExtendedFileMetadata,
			PartitionValues: stringMap(r.PartitionValues), Size: r.Size}})
	}
	return rows, len(adds)
}

// encodeCheckpoint writes rows as one Parquet file, zstd-compressed (the
// codec the protocol recommends when delta.parquet.compression.codec is
// not set).
func encodeCheckpoint(rows []ckRow) ([]byte, error) {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[ckRow](&buf, parquet.Compression(&parquet.Zstd))
	if _, err := w.Write(rows); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeCheckpoint writes a classic single-part checkpoint of st (which must
// be a committed version) and then _last_checkpoint, unless that already
// names a newer one. Two writers may race on one checkpoint: both write
// the same state, and the protocol lets the last one win.
func (t *Table) writeCheckpoint(ctx context.Context, st *state) (lastCheckpoint, error) {
	md := st.metadata
	retention, err := confDuration(md.Configuration, PropDeletedFileRetentionDuration, defaultDeletedFileRetention)
	if err != nil {
		return lastCheckpoint{}, err
	}
	withStats, err := confBool(md.Configuration, PropCheckpointWriteStatsAsJSON, true)
	if err != nil {
		return lastCheckpoint{}, err
	}
	rows, numAdds := checkpointRows(st, t.now().Add(-retention).UnixMilli(), withStats)
	data, err := encodeCheckpoint(rows)
	if err != nil {
		return lastCheckpoint{}, fmt.Errorf("delta: %s: encode checkpoint %d: %w", t, st.version, err)
	}
	if err := t.store.Put(ctx, t.key(logDir, checkpointName(st.version)), data); err != nil {
		return lastCheckpoint{}, fmt.Errorf("delta: %s: write checkpoint %d: %w", t, st.version, err)
	}
	lc := lastCheckpoint{Version: st.version, Size: int64(len(rows)),
		SizeInBytes: ptr(int64(len(data))), NumOfAddFiles: ptr(int64(numAdds))}
	if prev, ok, err := t.readLastCheckpoint(ctx); err == nil && ok && prev.Version > lc.Version {
		return lc, nil // a newer checkpoint is already the hint
	}
	hint, _ := json.Marshal(lc)
	if err := t.store.Put(ctx, t.key(logDir, "_last_checkpoint"), hint); err != nil {
		return lastCheckpoint{}, fmt.Errorf("delta: %s: write _last_checkpoint: %w", t, err)
	}
	return lc, nil
}

// checkpointColumns are the checkpoint columns a reader looks at; the last
// two exist only in V2 checkpoints.
var checkpointColumns = []string{"protocol", "metaData", "txn", "domainMetadata", "add", "remove", "checkpointMetadata", "sidecar"}

// readCheckpoint applies every action of a checkpoint (all its parts) to st.
func (t *Table) readCheckpoint(ctx context.Context, parts []logFile, st *state) error {
	for _, part := range parts {
		obj, info, err := t.store.Open(ctx, part.key)
		if err != nil {
			return fmt.Errorf("delta: %s: open checkpoint %s: %w", t, part.key, err)
		}
		f, err := parquet.OpenFile(obj, info.Size)
		if err == nil {
			err = readCheckpointFile(f, st.applyOwned)
			if testHookCheckpointFile != nil {
				err = testHookCheckpointFile(f, err)
			}
		}
		_ = obj.Close()
		if err != nil {
			if _, ok := err.(*UnsupportedFeatureError); ok {
				return fmt.Errorf("%s: %w", t, err)
			}
			return fmt.Errorf("%w: %s: checkpoint %s: %w", errMalformed, t, part.key, err)
		}
	}
	st.version = parts[0].version
	return nil
}

// testHookCheckpointFile, set only by tests, sees every checkpoint file
// read and the reader's result, and may replace the result (with an error
// when the readers disagree).
var testHookCheckpointFile func(f *parquet.File, err error) error
