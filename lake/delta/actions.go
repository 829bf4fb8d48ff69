package delta

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// Action is one line of a commit file (or one row of a checkpoint): exactly
// one of its fields is set. Actions this package does not know (and fields
// it does not name) are ignored when reading, as the protocol requires.
type Action struct {
	CommitInfo     *CommitInfo     `json:"commitInfo,omitempty"`
	Protocol       *Protocol       `json:"protocol,omitempty"`
	Metadata       *Metadata       `json:"metaData,omitempty"`
	Add            *Add            `json:"add,omitempty"`
	Remove         *Remove         `json:"remove,omitempty"`
	Txn            *Txn            `json:"txn,omitempty"`
	DomainMetadata *DomainMetadata `json:"domainMetadata,omitempty"`
	CDC            *CDC            `json:"cdc,omitempty"`
	// CheckpointMetadata and Sidecar only exist in V2 checkpoints, which
	// this package refuses (feature v2Checkpoint); they are kept to say so.
	CheckpointMetadata json.RawMessage `json:"checkpointMetadata,omitempty"`
	Sidecar            json.RawMessage `json:"sidecar,omitempty"`
}

// Protocol is the protocol action: the lowest reader and writer versions a
// client must implement, and with reader version 3 / writer version 7 the
// table features it must implement.
type Protocol struct {
	MinReaderVersion int32
	MinWriterVersion int32
	// ReaderFeatures is written only with reader version 3 (as [] when
	// empty), WriterFeatures only with writer version 7.
	ReaderFeatures []string
	WriterFeatures []string
}

type protocolJSON struct {
	MinReaderVersion int32     `json:"minReaderVersion"`
	MinWriterVersion int32     `json:"minWriterVersion"`
	ReaderFeatures   *[]string `json:"readerFeatures,omitempty"`
	WriterFeatures   *[]string `json:"writerFeatures,omitempty"`
}

func (p Protocol) MarshalJSON() ([]byte, error) {
	j := protocolJSON{MinReaderVersion: p.MinReaderVersion, MinWriterVersion: p.MinWriterVersion}
	if p.MinReaderVersion == 3 {
		rf := nonNil(p.ReaderFeatures)
		j.ReaderFeatures = &rf
	}
	if p.MinWriterVersion == 7 {
		wf := nonNil(p.WriterFeatures)
		j.WriterFeatures = &wf
	}
	return json.Marshal(j)
}

func (p *Protocol) UnmarshalJSON(b []byte) error {
	var j protocolJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = Protocol{MinReaderVersion: j.MinReaderVersion, MinWriterVersion: j.MinWriterVersion}
	if j.ReaderFeatures != nil {
		p.ReaderFeatures = *j.ReaderFeatures
	}
	if j.WriterFeatures != nil {
		p.WriterFeatures = *j.WriterFeatures
	}
	return nil
}

// Format is the encoding of a table's data files ("parquet").
type Format struct {
	Provider string            `json:"provider"`
	Options  map[string]string `json:"options"`
}

// Metadata is the metaData action: the table's id, schema, partition
// columns and configuration (its properties, such as
// delta.checkpointInterval). A later metaData replaces it entirely.
type Metadata struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Format      Format `json:"format"`
	// SchemaString is the schema as Spark's StructType JSON (Schema parses it).
	SchemaString     string   `json:"schemaString"`
	PartitionColumns []string `json:"partitionColumns"`
	// CreatedTime is in milliseconds since the epoch; nil when absent.
	CreatedTime   *int64            `json:"createdTime,omitempty"`
	Configuration map[string]string `json:"configuration"`
}

func (m Metadata) MarshalJSON() ([]byte, error) {
	type plain Metadata // without this method
	m.PartitionColumns = nonNil(m.PartitionColumns)
	if m.Configuration == nil {
		m.Configuration = map[string]string{}
	}
	if m.Format.Options == nil {
		m.Format.Options = map[string]string{}
	}
	return json.Marshal(plain(m))
}

// Schema parses SchemaString.
func (m Metadata) Schema() (StructType, error) {
	var s StructType
	if err := json.Unmarshal([]byte(m.SchemaString), &s); err != nil {
		return StructType{}, fmt.Errorf("delta: table %s: schemaString: %w", m.ID, err)
	}
	return s, nil
}

// PartitionValues maps partition columns to their serialized values (see
// PartitionValue). The protocol makes an empty string and null the same
// (a null partition value); this map holds "" for both and writes null, as
// Spark does.
type PartitionValues map[string]string

func (pv PartitionValues) MarshalJSON() ([]byte, error) {
	if pv == nil {
		return []byte("{}"), nil
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(pv)) {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		if v := pv[k]; v == "" {
			b.WriteString("null")
		} else {
			vb, _ := json.Marshal(v)
			b.Write(vb)
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// DeletionVector describes the rows of a data file a deletion vector
// removes. Tables that use them are refused (feature deletionVectors); the
// descriptor is still read, because it is part of a logical file's key.
type DeletionVector struct {
	StorageType    string `json:"storageType"`
	PathOrInlineDv string `json:"pathOrInlineDv"`
	Offset         *int32 `json:"offset,omitempty"`
	SizeInBytes    int32  `json:"sizeInBytes"`
	Cardinality    int64  `json:"cardinality"`
}

// UniqueID is the protocol's derived uniqueId: <storageType><pathOrInlineDv>,
// then @<offset> when there is one.
func (dv *DeletionVector) UniqueID() string {
	if dv == nil {
		return ""
	}
	id := dv.StorageType + dv.PathOrInlineDv
	if dv.Offset != nil {
		id += "@" + strconv.Itoa(int(*dv.Offset))
	}
	return id
}

// Add is the add action: a logical file (a data file and an optional
// deletion vector) that belongs to the table.
type Add struct {
	// Path is relative to the table root, or absolute, as a URI: URL-encoded
	// (see EncodePath, DecodePath).
	Path            string          `json:"path"`
	PartitionValues PartitionValues `json:"partitionValues"`
	Size            int64           `json:"size"`
	// ModificationTime is in milliseconds since the epoch.
	ModificationTime int64 `json:"modificationTime"`
	DataChange       bool  `json:"dataChange"`
	// Stats is the per-file statistics as a JSON string (see Stats).
	Stats                   string            `json:"stats,omitempty"`
	Tags                    map[string]string `json:"tags,omitempty"`
	DeletionVector          *DeletionVector   `json:"deletionVector,omitempty"`
	BaseRowID               *int64            `json:"baseRowId,omitempty"`
	DefaultRowCommitVersion *int64            `json:"defaultRowCommitVersion,omitempty"`
	ClusteringProvider      string            `json:"clusteringProvider,omitempty"`
}

// Remove is the remove action: a logical file leaves the table. It stays in
// the snapshot as a tombstone (for VACUUM) until it expires.
type Remove struct {
	Path string `json:"path"`
	// DeletionTimestamp is in milliseconds since the epoch; nil when absent.
	DeletionTimestamp       *int64            `json:"deletionTimestamp,omitempty"`
	DataChange              bool              `json:"dataChange"`
	ExtendedFileMetadata    *bool             `json:"extendedFileMetadata,omitempty"`
	PartitionValues         PartitionValues   `json:"partitionValues,omitempty"`
	Size                    *int64            `json:"size,omitempty"`
	Stats                   string            `json:"stats,omitempty"`
	Tags                    map[string]string `json:"tags,omitempty"`
	DeletionVector          *DeletionVector   `json:"deletionVector,omitempty"`
	BaseRowID               *int64            `json:"baseRowId,omitempty"`
	DefaultRowCommitVersion *int64            `json:"defaultRowCommitVersion,omitempty"`
}

// Txn is a transaction identifier: how far an application (a streaming
// query, by its id) has written into the table. Replay keeps the latest
// version per AppID.
type Txn struct {
	AppID   string `json:"appId"`
	Version int64  `json:"version"`
	// LastUpdated is in milliseconds since the epoch; nil when absent.
	LastUpdated *int64 `json:"lastUpdated,omitempty"`
}

// DomainMetadata is a named configuration string. Replay keeps the latest
// per Domain; Removed ones are tombstones and leave the snapshot. This
// package preserves domains (in its checkpoints) and never writes them.
type DomainMetadata struct {
	Domain        string `json:"domain"`
	Configuration string `json:"configuration"`
	Removed       bool   `json:"removed"`
}

// CDC is a change data file. Snapshots ignore it; it is read so that a
// commit holding one parses.
type CDC struct {
	Path            string            `json:"path"`
	PartitionValues PartitionValues   `json:"partitionValues"`
	Size            int64             `json:"size"`
	DataChange      bool              `json:"dataChange"`
	Tags            map[string]string `json:"tags,omitempty"`
}

// CommitInfo is commit provenance, in the shape Spark writes it. The
// protocol lets a writer store any JSON here, so reading is lenient: a
// parameter or metric that is not a string keeps its JSON text, and the
// whole action as read stays in Raw.
type CommitInfo struct {
	// Timestamp is when the writer committed, in milliseconds.
	Timestamp int64 `json:"timestamp"`
	// InCommitTimestamp is set when in-commit timestamps are enabled.
	InCommitTimestamp   *int64            `json:"inCommitTimestamp,omitempty"`
	UserID              string            `json:"userId,omitempty"`
	UserName            string            `json:"userName,omitempty"`
	Operation           string            `json:"operation,omitempty"`
	OperationParameters map[string]string `json:"operationParameters,omitempty"`
	ClusterID           string            `json:"clusterId,omitempty"`
	ReadVersion         *int64            `json:"readVersion,omitempty"`
	IsolationLevel      string            `json:"isolationLevel,omitempty"`
	IsBlindAppend       *bool             `json:"isBlindAppend,omitempty"`
	OperationMetrics    map[string]string `json:"operationMetrics,omitempty"`
	UserMetadata        string            `json:"userMetadata,omitempty"`
	Tags                map[string]string `json:"tags,omitempty"`
	EngineInfo          string            `json:"engineInfo,omitempty"`
	TxnID               string            `json:"txnId,omitempty"`
	// Raw is the action as read from the log (nil for one built here).
	Raw json.RawMessage `json:"-"`
}

func (c *CommitInfo) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	*c = CommitInfo{Raw: slices.Clone(b)}
	str := func(k string) string {
		var s string
		if raw, ok := fields[k]; ok && json.Unmarshal(raw, &s) != nil {
			s = string(raw) // not a string: keep its JSON text
		}
		return s
	}
	i64 := func(k string) *int64 {
		var n json.Number
		raw, ok := fields[k]
		if !ok || json.Unmarshal(raw, &n) != nil {
			return nil
		}
		v, err := n.Int64()
		if err != nil {
			return nil
		}
		return &v
	}
	strMap := func(k string) map[string]string {
		var m map[string]json.RawMessage
		if raw, ok := fields[k]; !ok || json.Unmarshal(raw, &m) != nil || m == nil {
			return nil
		}
		out := make(map[string]string, len(m))
		for mk, raw := range m {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				s = string(raw)
			}
			out[mk] = s
		}
		return out
	}
	if ts := i64("timestamp"); ts != nil {
		c.Timestamp = *ts
	}
	c.InCommitTimestamp = i64("inCommitTimestamp")
	c.UserID, c.UserName = str("userId"), str("userName")
	c.Operation = str("operation")
	c.OperationParameters = strMap("operationParameters")
	c.ClusterID = str("clusterId")
	c.ReadVersion = i64("readVersion")
	c.IsolationLevel = str("isolationLevel")
	if raw, ok := fields["isBlindAppend"]; ok {
		var v bool
		if json.Unmarshal(raw, &v) == nil {
			c.IsBlindAppend = &v
		}
	}
	c.OperationMetrics = strMap("operationMetrics")
	c.UserMetadata = str("userMetadata")
	c.Tags = strMap("tags")
	c.EngineInfo = str("engineInfo")
	c.TxnID = str("txnId")
	return nil
}

// ParseActions reads a commit file: newline-delimited JSON, one action per
// line. Blank lines are skipped; a line that is not JSON is an error naming
// it. Unknown actions come back as an Action with no field set.
func ParseActions(data []byte) ([]Action, error) {
	var out []Action
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<30) // a line holds one action, which can be large (a schema)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var a Action
		if err := json.Unmarshal(b, &a); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// EncodeActions writes actions as a commit file: one JSON line each, in
// order, each ending in "\n".
func EncodeActions(actions []Action) ([]byte, error) {
	var b bytes.Buffer
	for i, a := range actions {
		if a.count() != 1 {
			return nil, fmt.Errorf("delta: action %d sets %d kinds of action, want exactly one", i, a.count())
		}
		line, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("delta: action %d: %w", i, err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

func (a Action) count() int {
	n := 0
	for _, set := range []bool{a.CommitInfo != nil, a.Protocol != nil, a.Metadata != nil, a.Add != nil,
		a.Remove != nil, a.Txn != nil, a.DomainMetadata != nil, a.CDC != nil,
		a.CheckpointMetadata != nil, a.Sidecar != nil} {
		if set {
			n++
		}
	}
	return n
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// errMalformed marks a log that breaks the protocol's rules.
var errMalformed = errors.New("delta: malformed log")
