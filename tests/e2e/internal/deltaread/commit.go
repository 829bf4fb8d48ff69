package deltaread

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
)

// The JSON shapes of the actions, as PROTOCOL.md's tables give them. Fields
// a snapshot does not need are left out (encoding/json ignores them), and
// so are actions this reader does not know.
type jsonAction struct {
	Add        *jsonAdd        `json:"add"`
	Remove     *jsonRemove     `json:"remove"`
	Txn        *jsonTxn        `json:"txn"`
	Protocol   *jsonProtocol   `json:"protocol"`
	MetaData   *jsonMetadata   `json:"metaData"`
	CommitInfo json.RawMessage `json:"commitInfo"`
}

type jsonDV struct {
	StorageType    string `json:"storageType"`
	PathOrInlineDv string `json:"pathOrInlineDv"`
	Offset         *int64 `json:"offset"`
}

// id is the deletion vector's uniqueId: storage type and path or inline
// data, then "@offset" when there is one.
func (d *jsonDV) id() string {
	if d == nil {
		return ""
	}
	return dvID(d.StorageType, d.PathOrInlineDv, d.Offset)
}

func dvID(storage, path string, offset *int64) string {
	s := storage + path
	if offset != nil {
		s += fmt.Sprintf("@%d", *offset)
	}
	return s
}

type jsonAdd struct {
	Path             *string            `json:"path"`
	PartitionValues  map[string]*string `json:"partitionValues"`
	Size             *int64             `json:"size"`
	ModificationTime *int64             `json:"modificationTime"`
	DataChange       *bool              `json:"dataChange"`
	Stats            *string            `json:"stats"`
	DeletionVector   *jsonDV            `json:"deletionVector"`
}

type jsonRemove struct {
	Path              *string `json:"path"`
	DeletionTimestamp *int64  `json:"deletionTimestamp"`
	DataChange        *bool   `json:"dataChange"`
	DeletionVector    *jsonDV `json:"deletionVector"`
}

type jsonTxn struct {
	AppID   *string `json:"appId"`
	Version *int64  `json:"version"`
}

type jsonProtocol struct {
	MinReaderVersion *int64   `json:"minReaderVersion"`
	MinWriterVersion *int64   `json:"minWriterVersion"`
	ReaderFeatures   []string `json:"readerFeatures"`
	WriterFeatures   []string `json:"writerFeatures"`
}

type jsonMetadata struct {
	ID          *string `json:"id"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Format      *struct {
		Provider string `json:"provider"`
	} `json:"format"`
	SchemaString     *string            `json:"schemaString"`
	PartitionColumns []string           `json:"partitionColumns"`
	CreatedTime      *int64             `json:"createdTime"`
	Configuration    map[string]*string `json:"configuration"`
}

// parseCommit reads a commit file: newline-delimited JSON, one action per
// line. It returns the actions, and the commitInfo as a generic object.
func parseCommit(b []byte) ([]action, map[string]any, error) {
	var acts []action
	var info map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ja jsonAction
		if err := json.Unmarshal(line, &ja); err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", n, err)
		}
		a, err := ja.decode()
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", n, err)
		}
		if ja.CommitInfo != nil && string(ja.CommitInfo) != "null" {
			d := json.NewDecoder(bytes.NewReader(ja.CommitInfo))
			d.UseNumber()
			if err := d.Decode(&info); err != nil {
				return nil, nil, fmt.Errorf("line %d: commitInfo: %w", n, err)
			}
		}
		acts = append(acts, a)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	return acts, info, nil
}

// decode checks an action's required fields and converts it.
func (ja jsonAction) decode() (action, error) {
	switch {
	case ja.Add != nil:
		j := ja.Add
		if j.Path == nil || j.Size == nil || j.ModificationTime == nil || j.DataChange == nil || j.PartitionValues == nil {
			return action{}, fmt.Errorf("add without one of its required fields (path, partitionValues, size, modificationTime, dataChange)")
		}
		f, err := newFile(*j.Path, j.PartitionValues, *j.Size, *j.ModificationTime, *j.DataChange, j.Stats, j.DeletionVector.id())
		return action{add: f}, err
	case ja.Remove != nil:
		j := ja.Remove
		if j.Path == nil || j.DataChange == nil {
			return action{}, fmt.Errorf("remove without path or dataChange")
		}
		r, err := newTombstone(*j.Path, j.DeletionTimestamp, *j.DataChange, j.DeletionVector.id())
		return action{remove: r}, err
	case ja.Txn != nil:
		if ja.Txn.AppID == nil || ja.Txn.Version == nil {
			return action{}, fmt.Errorf("txn without appId or version")
		}
		return action{txn: &txn{appID: *ja.Txn.AppID, version: *ja.Txn.Version}}, nil
	case ja.Protocol != nil:
		j := ja.Protocol
		if j.MinReaderVersion == nil || j.MinWriterVersion == nil {
			return action{}, fmt.Errorf("protocol without minReaderVersion or minWriterVersion")
		}
		return action{protocol: &Protocol{MinReaderVersion: *j.MinReaderVersion, MinWriterVersion: *j.MinWriterVersion,
			ReaderFeatures: j.ReaderFeatures, WriterFeatures: j.WriterFeatures}}, nil
	case ja.MetaData != nil:
		j := ja.MetaData
		if j.ID == nil || j.Format == nil || j.SchemaString == nil || j.PartitionColumns == nil || j.Configuration == nil {
			return action{}, fmt.Errorf("metaData without one of its required fields (id, format, schemaString, partitionColumns, configuration)")
		}
		md, err := newMetadata(*j.ID, deref(j.Name), deref(j.Description), j.Format.Provider, *j.SchemaString,
			j.PartitionColumns, j.Configuration, j.CreatedTime)
		return action{metadata: md}, err
	}
	return action{}, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// newFile builds a live file from an add's fields, from a commit or a
// checkpoint alike.
func newFile(path string, pv map[string]*string, size, mtime int64, dataChange bool, stats *string, dv string) (*File, error) {
	key, err := decodePath(path)
	if err != nil {
		return nil, fmt.Errorf("add path %q: %w", path, err)
	}
	f := &File{Path: path, Key: key, PartitionValues: map[string]string{}, Size: size, ModificationTime: mtime,
		DataChange: dataChange, StatsJSON: deref(stats), DV: dv}
	for k, v := range pv {
		f.PartitionValues[k] = deref(v) // null and "" are both null
	}
	if f.Stats, err = parseStats(f.StatsJSON); err != nil {
		return nil, fmt.Errorf("add %s: %w", path, err)
	}
	return f, nil
}

func newTombstone(path string, deletedAt *int64, dataChange bool, dv string) (*Tombstone, error) {
	key, err := decodePath(path)
	if err != nil {
		return nil, fmt.Errorf("remove path %q: %w", path, err)
	}
	r := &Tombstone{Path: path, Key: key, DataChange: dataChange, DV: dv}
	if deletedAt != nil {
		r.DeletionTimestamp = *deletedAt
	}
	return r, nil
}

func newMetadata(id, name, desc, provider, schema string, partCols []string, conf map[string]*string, created *int64) (*Metadata, error) {
	fields, err := parseSchema(schema)
	if err != nil {
		return nil, fmt.Errorf("metaData %s: schemaString: %w", id, err)
	}
	md := &Metadata{ID: id, Name: name, Description: desc, Provider: provider, SchemaString: schema, Schema: fields,
		PartitionColumns: partCols, Configuration: map[string]string{}}
	for k, v := range conf {
		md.Configuration[k] = deref(v)
	}
	if created != nil {
		md.CreatedTime = *created
	}
	for _, c := range partCols {
		found := false
		for _, f := range fields {
			found = found || f.Name == c
		}
		if !found {
			return nil, fmt.Errorf("metaData %s: partition column %q is not in the schema", id, c)
		}
	}
	return md, nil
}
