package app

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sensorlab/sensorlab/lake/delta"
)

// HistoryRow is one version of `batcher history --json`: DESCRIBE HISTORY's
// columns, with Spark's names (absent values are null).
type HistoryRow struct {
	Version             int64             `json:"version"`
	Timestamp           time.Time         `json:"timestamp"`
	UserID              *string           `json:"userId"`
	UserName            *string           `json:"userName"`
	Operation           *string           `json:"operation"`
	OperationParameters map[string]string `json:"operationParameters"`
	ClusterID           *string           `json:"clusterId"`
	ReadVersion         *int64            `json:"readVersion"`
	IsolationLevel      *string           `json:"isolationLevel"`
	IsBlindAppend       *bool             `json:"isBlindAppend"`
	OperationMetrics    map[string]string `json:"operationMetrics"`
	UserMetadata        *string           `json:"userMetadata"`
	EngineInfo          *string           `json:"engineInfo"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// HistoryRowOf is the row of a history entry.
func HistoryRowOf(e delta.HistoryEntry) HistoryRow {
	ci := e.CommitInfo
	return HistoryRow{
		Version: e.Version, Timestamp: e.Timestamp.UTC(),
		UserID: nullable(ci.UserID), UserName: nullable(ci.UserName), Operation: nullable(ci.Operation),
		OperationParameters: ci.OperationParameters, ClusterID: nullable(ci.ClusterID), ReadVersion: ci.ReadVersion,
		IsolationLevel: nullable(ci.IsolationLevel), IsBlindAppend: ci.IsBlindAppend, OperationMetrics: ci.OperationMetrics,
		UserMetadata: nullable(ci.UserMetadata), EngineInfo: nullable(ci.EngineInfo),
	}
}

// WriteHistory prints DESCRIBE HISTORY, newest version first: a text table,
// or with asJSON one JSON object per version and line (JSON lines).
func WriteHistory(w io.Writer, entries []delta.HistoryEntry, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, e := range entries {
			if err := enc.Encode(HistoryRowOf(e)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "version\ttimestamp\toperation\toperationParameters\treadVersion\tisBlindAppend\toperationMetrics\tuserMetadata\tengineInfo")
	for _, e := range entries {
		r := HistoryRowOf(e)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Version, r.Timestamp.Format(timeLayout),
			orDash(r.Operation), keyValues(r.OperationParameters), intOrDash(r.ReadVersion), boolOrDash(r.IsBlindAppend),
			keyValues(r.OperationMetrics), orDash(r.UserMetadata), orDash(r.EngineInfo))
	}
	return tw.Flush()
}

// timeLayout is how the text tables print times: UTC, milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func orDash(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func intOrDash(v *int64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatInt(*v, 10)
}

func boolOrDash(v *bool) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatBool(*v)
}

// keyValues prints a map as "k=v k=v", sorted by key; "-" when empty.
func keyValues(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + m[k])
	}
	return b.String()
}

// DetailRow is `batcher detail --json`: DESCRIBE DETAIL's columns, with
// Spark's names, and the protocol's feature lists and the version
// described.
type DetailRow struct {
	Format           string            `json:"format"`
	ID               string            `json:"id"`
	Name             *string           `json:"name"`
	Description      *string           `json:"description"`
	Location         string            `json:"location"`
	CreatedAt        *time.Time        `json:"createdAt"`
	LastModified     time.Time         `json:"lastModified"`
	PartitionColumns []string          `json:"partitionColumns"`
	NumFiles         int64             `json:"numFiles"`
	SizeInBytes      int64             `json:"sizeInBytes"`
	Properties       map[string]string `json:"properties"`
	MinReaderVersion int32             `json:"minReaderVersion"`
	MinWriterVersion int32             `json:"minWriterVersion"`
	ReaderFeatures   []string          `json:"readerFeatures"`
	WriterFeatures   []string          `json:"writerFeatures"`
	TableFeatures    []string          `json:"tableFeatures"`
	Version          int64             `json:"version"`
}

// DetailRowOf is the row of a table's detail and protocol.
func DetailRowOf(d delta.Detail, p delta.Protocol) DetailRow {
	r := DetailRow{
		Format: d.Format, ID: d.ID, Name: nullable(d.Name), Description: nullable(d.Description), Location: d.Location,
		LastModified: d.LastModified.UTC(), PartitionColumns: nonNil(d.PartitionColumns), NumFiles: d.NumFiles,
		SizeInBytes: d.SizeInBytes, Properties: d.Properties, MinReaderVersion: d.MinReaderVersion,
		MinWriterVersion: d.MinWriterVersion, ReaderFeatures: nonNil(p.ReaderFeatures), WriterFeatures: nonNil(p.WriterFeatures),
		TableFeatures: nonNil(d.TableFeatures), Version: d.Version,
	}
	if r.Properties == nil {
		r.Properties = map[string]string{}
	}
	if !d.CreatedAt.IsZero() {
		t := d.CreatedAt.UTC()
		r.CreatedAt = &t
	}
	return r
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// WriteDetail prints DESCRIBE DETAIL: one "field value" line per column,
// or with asJSON one JSON object.
func WriteDetail(w io.Writer, d delta.Detail, p delta.Protocol, asJSON bool) error {
	r := DetailRowOf(d, p)
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	created := "-"
	if r.CreatedAt != nil {
		created = r.CreatedAt.Format(timeLayout)
	}
	list := func(s []string) string { return "[" + strings.Join(s, ", ") + "]" }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, kv := range [][2]string{
		{"format", r.Format},
		{"id", r.ID},
		{"name", orDash(r.Name)},
		{"description", orDash(r.Description)},
		{"location", r.Location},
		{"createdAt", created},
		{"lastModified", r.LastModified.Format(timeLayout)},
		{"partitionColumns", list(r.PartitionColumns)},
		{"numFiles", strconv.FormatInt(r.NumFiles, 10)},
		{"sizeInBytes", strconv.FormatInt(r.SizeInBytes, 10)},
		{"properties", keyValues(r.Properties)},
		{"minReaderVersion", strconv.Itoa(int(r.MinReaderVersion))},
		{"minWriterVersion", strconv.Itoa(int(r.MinWriterVersion))},
		{"readerFeatures", list(r.ReaderFeatures)},
		{"writerFeatures", list(r.WriterFeatures)},
		{"tableFeatures", list(r.TableFeatures)},
		{"version", strconv.FormatInt(r.Version, 10)},
	} {
		fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
	}
	return tw.Flush()
}

// WriteOptimize prints what OPTIMIZE did, as Spark's OPTIMIZE result: the
// table, the version committed and the files removed and added.
func WriteOptimize(w io.Writer, location string, res delta.OptimizeResult) error {
	version := strconv.FormatInt(res.Version, 10)
	if res.Version < 0 {
		version = "- (nothing to compact: no commit)"
	}
	m := res.Metrics
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, kv := range [][2]string{
		{"path", location},
		{"version", version},
		{"partitionsOptimized", strconv.Itoa(res.Partitions)},
		{"numFilesRemoved", strconv.Itoa(res.FilesRemoved)},
		{"numFilesAdded", strconv.Itoa(res.FilesAdded)},
		{"bytesRemoved", strconv.FormatInt(res.BytesRemoved, 10)},
		{"bytesAdded", strconv.FormatInt(res.BytesAdded, 10)},
		{"totalConsideredFiles", strconv.Itoa(m.TotalConsideredFiles)},
		{"totalFilesSkipped", strconv.Itoa(m.TotalFilesSkipped)},
		{"numRowsCopied", strconv.FormatInt(m.NumRowsCopied, 10)},
	} {
		fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
	}
	return tw.Flush()
}
