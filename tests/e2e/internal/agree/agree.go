// Package agree compares a snapshot read by the tests' independent Delta
// reader (deltaread) with the snapshot lake/delta reads of the same table
// and version: the live files with their partition values, sizes, times and
// stats, the tombstones, the transaction versions, the metadata (schema,
// partition columns, configuration) and the protocol. Two readers written
// apart from the protocol that agree are the evidence the end-to-end tests
// rely on; this is the only place that looks at both.
package agree

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/tests/e2e/internal/deltaread"
)

// maxDiffs bounds the differences reported: the first ones say enough.
const maxDiffs = 20

// Diff returns every difference between the two snapshots (none: they
// agree). root is the table's root in the store, to relate lake/delta's
// data keys to the reader's table-relative keys.
func Diff(mine *deltaread.Snapshot, theirs *delta.Snapshot, root string) []string {
	var d []string
	add := func(format string, args ...any) {
		if len(d) < maxDiffs {
			d = append(d, fmt.Sprintf(format, args...))
		}
	}
	if mine.Version != theirs.Version() {
		add("version: deltaread %d, lake/delta %d", mine.Version, theirs.Version())
	}

	p := theirs.Protocol()
	if mine.Protocol.MinReaderVersion != int64(p.MinReaderVersion) || mine.Protocol.MinWriterVersion != int64(p.MinWriterVersion) ||
		!sameSet(mine.Protocol.ReaderFeatures, p.ReaderFeatures) || !sameSet(mine.Protocol.WriterFeatures, p.WriterFeatures) {
		add("protocol: deltaread %+v, lake/delta %+v", mine.Protocol, p)
	}

	md := theirs.Metadata()
	m := mine.Metadata
	var created int64
	if md.CreatedTime != nil {
		created = *md.CreatedTime
	}
	if m.ID != md.ID || m.Name != md.Name || m.Description != md.Description || m.Provider != md.Format.Provider ||
		m.SchemaString != md.SchemaString || m.CreatedTime != created {
		add("metaData: deltaread id=%s name=%q provider=%s created=%d schema=%s; lake/delta id=%s name=%q provider=%s created=%d schema=%s",
			m.ID, m.Name, m.Provider, m.CreatedTime, m.SchemaString, md.ID, md.Name, md.Format.Provider, created, md.SchemaString)
	}
	if !slices.Equal(m.PartitionColumns, md.PartitionColumns) {
		add("partition columns: deltaread %v, lake/delta %v", m.PartitionColumns, md.PartitionColumns)
	}
	if !maps.Equal(m.Configuration, md.Configuration) && !(len(m.Configuration) == 0 && len(md.Configuration) == 0) {
		add("configuration: deltaread %v, lake/delta %v", m.Configuration, md.Configuration)
	}
	schema := theirs.Schema()
	if len(schema.Fields) != len(m.Schema) {
		add("schema: deltaread %v, lake/delta %d fields", m.Schema, len(schema.Fields))
	} else {
		for i, f := range schema.Fields {
			mf := m.Schema[i]
			typ := f.Type.TypeName()
			if pt, ok := f.Type.(delta.PrimitiveType); ok {
				typ = string(pt)
			}
			mine := mf.Type
			if j := strings.IndexByte(mine, '<'); j > 0 {
				mine = mine[:j] // nested: lake/delta gives the type's name only
			}
			if mf.Name != f.Name || mine != typ || mf.Nullable != f.Nullable {
				add("column %d: deltaread %s, lake/delta %s %s nullable=%v", i, mf, f.Name, typ, f.Nullable)
			}
		}
	}

	if !maps.Equal(mine.Txns, txns(theirs)) {
		add("txns: deltaread %v, lake/delta %v", mine.Txns, txns(theirs))
	}

	// Live files.
	prefix := strings.Trim(root, "/")
	if prefix != "" {
		prefix += "/"
	}
	tf := map[string]delta.Add{}
	for _, a := range theirs.Files() {
		tf[deltaread.FileKey(a.Path, dvID(a.DeletionVector))] = a
	}
	for _, k := range unionKeys(mine.Files, tf) {
		f, inMine := mine.Files[k]
		a, inTheirs := tf[k]
		switch {
		case !inTheirs:
			add("file %s: live for deltaread only", k)
			continue
		case !inMine:
			add("file %s: live for lake/delta only", k)
			continue
		}
		if key, err := theirs.Table().DataKey(a.Path); err != nil || key != prefix+f.Key {
			add("file %s: deltaread key %q, lake/delta key %q (%v)", k, prefix+f.Key, key, err)
		}
		if !maps.Equal(f.PartitionValues, map[string]string(a.PartitionValues)) && !(len(f.PartitionValues) == 0 && len(a.PartitionValues) == 0) {
			add("file %s: partition values: deltaread %v, lake/delta %v", k, f.PartitionValues, a.PartitionValues)
		}
		if f.Size != a.Size || f.ModificationTime != a.ModificationTime || f.DataChange != a.DataChange {
			add("file %s: size/modificationTime/dataChange: deltaread %d/%d/%v, lake/delta %d/%d/%v",
				k, f.Size, f.ModificationTime, f.DataChange, a.Size, a.ModificationTime, a.DataChange)
		}
		if f.StatsJSON != a.Stats {
			add("file %s: stats: deltaread %s, lake/delta %s", k, f.StatsJSON, a.Stats)
		} else if msg := sameStats(f.Stats, a.Stats); msg != "" {
			add("file %s: parsed stats: %s", k, msg)
		}
	}

	// Tombstones.
	tt := map[string]delta.Remove{}
	for _, r := range theirs.Tombstones() {
		tt[deltaread.FileKey(r.Path, dvID(r.DeletionVector))] = r
	}
	for _, k := range unionKeys(mine.Tombstones, tt) {
		r, inMine := mine.Tombstones[k]
		x, inTheirs := tt[k]
		switch {
		case !inTheirs:
			add("tombstone %s: deltaread only", k)
			continue
		case !inMine:
			add("tombstone %s: lake/delta only", k)
			continue
		}
		var ts int64
		if x.DeletionTimestamp != nil {
			ts = *x.DeletionTimestamp
		}
		if r.DeletionTimestamp != ts || r.DataChange != x.DataChange {
			add("tombstone %s: deletionTimestamp/dataChange: deltaread %d/%v, lake/delta %d/%v", k, r.DeletionTimestamp, r.DataChange, ts, x.DataChange)
		}
	}
	return d
}

func txns(s *delta.Snapshot) map[string]int64 {
	out := map[string]int64{}
	for _, t := range s.Txns() {
		out[t.AppID] = t.Version
	}
	return out
}

func dvID(dv *delta.DeletionVector) string {
	if dv == nil {
		return ""
	}
	return dv.UniqueID()
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func unionKeys[A, B any](a map[string]A, b map[string]B) []string {
	set := map[string]bool{}
	for k := range a {
		set[k] = true
	}
	for k := range b {
		set[k] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// sameStats compares the reader's parse of a stats string with lake/delta's
// (numbers as float64 on both sides); "" when they agree.
func sameStats(mine *deltaread.Stats, js string) string {
	if js == "" {
		if mine != nil {
			return "deltaread parsed stats from an empty string"
		}
		return ""
	}
	theirs, err := delta.ParseStats(js)
	if err != nil {
		return "lake/delta: " + err.Error()
	}
	if mine == nil {
		return "deltaread has no stats"
	}
	if mine.NumRecords != theirs.NumRecords {
		return fmt.Sprintf("numRecords %d vs %d", mine.NumRecords, theirs.NumRecords)
	}
	for _, c := range []struct {
		name string
		a, b map[string]any
	}{{"minValues", mine.MinValues, theirs.MinValues}, {"maxValues", mine.MaxValues, theirs.MaxValues},
		{"nullCount", mine.NullCount, theirs.NullCount}} {
		a := Normalize(c.a)
		if len(c.a) == 0 && len(c.b) == 0 {
			continue
		}
		if !reflect.DeepEqual(a, any(c.b)) {
			return fmt.Sprintf("%s %v vs %v", c.name, a, c.b)
		}
	}
	return ""
}

// Normalize turns the reader's json.Number values into float64, as
// encoding/json reads numbers by default, recursively.
func Normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Normalize(e)
		}
		return out
	}
	return v
}
