package deltaread

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/parquet-go/parquet-go"
)

// A checkpoint (V1 spec) is a Parquet file with one top-level struct column
// per action type (add, remove, metaData, protocol, txn, ...): each row holds
// one action, the other columns of that row null. This reader reads the
// leaf columns it needs by their paths (add.path, add.partitionValues'
// keys and values, metaData.partitionColumns' elements, ...), each column
// chunk's values split into rows by repetition level, and tells null from
// present by definition level. It never matches the inner names of a list
// or map (list/element, key_value, bag/array ...): whatever a writer called
// them, a map is its group's first leaf (keys) and second (values), a list
// its one leaf. Columns the file does not have read as null.

// ckFile is an open checkpoint part and the columns read from it.
type ckFile struct {
	f      *parquet.File
	schema *parquet.Schema
	rows   int
}

// column is one leaf column, split into rows.
type column struct {
	rows [][]parquet.Value // nil: the file has no such column
	// entryDef is the definition level at which an entry of the repeated
	// group above the leaf exists (lists and maps); maxDef the level of a
	// non-null value.
	entryDef, maxDef int
}

// leaves returns the leaf columns under path (the leaf itself when path
// names one), in schema order.
func (c *ckFile) leaves(path ...string) []parquet.LeafColumn {
	var out []parquet.LeafColumn
	for _, p := range c.schema.Columns() {
		if len(p) >= len(path) && slices.Equal(p[:len(path)], path) {
			leaf, ok := c.schema.Lookup(p...)
			if ok {
				leaf.Path = slices.Clone(p) // Lookup's Path is not always the full path
				out = append(out, leaf)
			}
		}
	}
	return out
}

// read reads one leaf column of every row group.
func (c *ckFile) read(leaf parquet.LeafColumn) (column, error) {
	col := column{maxDef: leaf.MaxDefinitionLevel, entryDef: -1}
	// The definition level of the repeated node above (or at) the leaf.
	var node parquet.Node = c.schema
	level := 0
	for _, name := range leaf.Path {
		next := child(node, name)
		if next == nil {
			return column{}, fmt.Errorf("column %v: no field %q", leaf.Path, name)
		}
		node = next
		if node.Optional() || node.Repeated() {
			level++
		}
		if node.Repeated() && col.entryDef < 0 {
			col.entryDef = level
		}
	}
	for _, rg := range c.f.RowGroups() {
		pages := rg.ColumnChunks()[leaf.ColumnIndex].Pages()
		err := func() error {
			defer pages.Close()
			buf := make([]parquet.Value, 256)
			for {
				p, err := pages.ReadPage()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return err
				}
				vr := p.Values()
				for {
					n, err := vr.ReadValues(buf)
					for _, v := range buf[:n] {
						v = v.Clone()
						if v.RepetitionLevel() == 0 || len(col.rows) == 0 {
							col.rows = append(col.rows, []parquet.Value{v})
						} else {
							col.rows[len(col.rows)-1] = append(col.rows[len(col.rows)-1], v)
						}
					}
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						return err
					}
				}
			}
		}()
		if err != nil {
			return column{}, fmt.Errorf("column %v: %w", leaf.Path, err)
		}
	}
	if len(col.rows) != c.rows {
		return column{}, fmt.Errorf("column %v has %d rows, the file %d", leaf.Path, len(col.rows), c.rows)
	}
	return col, nil
}

func child(n parquet.Node, name string) parquet.Node {
	for _, f := range n.Fields() {
		if f.Name() == name {
			return f
		}
	}
	return nil
}

// scalar reads a primitive field of an action struct (a leaf with no
// repetition).
func (c *ckFile) scalar(path ...string) (column, error) {
	ls := c.leaves(path...)
	if len(ls) == 0 {
		return column{}, nil
	}
	if len(ls) != 1 || !slices.Equal(ls[0].Path, path) || ls[0].MaxRepetitionLevel != 0 {
		return column{}, fmt.Errorf("%v is not a primitive field", path)
	}
	return c.read(ls[0])
}

// list reads a list of primitives: the one leaf under path.
func (c *ckFile) list(path ...string) (column, error) {
	ls := c.leaves(path...)
	if len(ls) == 0 {
		return column{}, nil
	}
	if len(ls) != 1 || ls[0].MaxRepetitionLevel != 1 {
		return column{}, fmt.Errorf("%v is not a list of primitives", path)
	}
	return c.read(ls[0])
}

// mapOf reads a map of primitives: its keys and its values.
func (c *ckFile) mapOf(path ...string) (keys, vals column, err error) {
	ls := c.leaves(path...)
	if len(ls) == 0 {
		return column{}, column{}, nil
	}
	if len(ls) != 2 || ls[0].MaxRepetitionLevel != 1 || ls[1].MaxRepetitionLevel != 1 {
		return column{}, column{}, fmt.Errorf("%v is not a map of primitives", path)
	}
	if keys, err = c.read(ls[0]); err != nil {
		return
	}
	vals, err = c.read(ls[1])
	return
}

// present reports whether row r has a non-null value.
func (col column) present(r int) bool {
	return col.rows != nil && !col.rows[r][0].IsNull()
}

func (col column) str(r int) (string, bool) {
	if !col.present(r) {
		return "", false
	}
	return string(col.rows[r][0].ByteArray()), true
}

func (col column) strp(r int) *string {
	s, ok := col.str(r)
	if !ok {
		return nil
	}
	return &s
}

func (col column) int(r int) (int64, bool) {
	if !col.present(r) {
		return 0, false
	}
	v := col.rows[r][0]
	switch v.Kind() {
	case parquet.Int32:
		return int64(v.Int32()), true
	case parquet.Int64:
		return v.Int64(), true
	}
	return 0, false
}

func (col column) intp(r int) *int64 {
	n, ok := col.int(r)
	if !ok {
		return nil
	}
	return &n
}

func (col column) bool(r int) (bool, bool) {
	if !col.present(r) {
		return false, false
	}
	return col.rows[r][0].Boolean(), true
}

// strings returns row r's list elements (nil for a null or empty list;
// null elements are left out).
func (col column) strings(r int) []string {
	if col.rows == nil {
		return nil
	}
	var out []string
	for _, v := range col.rows[r] {
		if v.DefinitionLevel() >= col.entryDef && v.DefinitionLevel() == col.maxDef {
			out = append(out, string(v.ByteArray()))
		}
	}
	return out
}

// isList reports whether row r holds a list (possibly empty), not null.
func (col column) isList(r int) bool {
	return col.rows != nil && col.rows[r][0].DefinitionLevel() >= col.entryDef-1
}

// mapAt returns row r's map entries; a null value is kept as nil.
func mapAt(keys, vals column, r int) map[string]*string {
	out := map[string]*string{}
	if keys.rows == nil {
		return out
	}
	for i, k := range keys.rows[r] {
		if k.IsNull() {
			continue // an empty or null map
		}
		var v *string
		if vals.rows != nil && i < len(vals.rows[r]) && !vals.rows[r][i].IsNull() {
			s := string(vals.rows[r][i].ByteArray())
			v = &s
		}
		out[string(k.ByteArray())] = v
	}
	return out
}

// readCheckpoint reads the actions of one checkpoint part.
func readCheckpoint(b []byte) ([]action, error) {
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, err
	}
	c := &ckFile{f: f, schema: f.Schema(), rows: int(f.NumRows())}
	var errs []error
	sc := func(path ...string) column {
		col, err := c.scalar(path...)
		errs = append(errs, err)
		return col
	}
	li := func(path ...string) column {
		col, err := c.list(path...)
		errs = append(errs, err)
		return col
	}
	mp := func(path ...string) (column, column) {
		k, v, err := c.mapOf(path...)
		errs = append(errs, err)
		return k, v
	}

	// V2 checkpoints carry these; the table then lists the v2Checkpoint
	// reader feature, which supported() refuses, but say so here too.
	for _, v2 := range []string{"checkpointMetadata", "sidecar"} {
		for _, l := range c.leaves(v2) {
			col, err := c.read(l)
			if err != nil {
				return nil, err
			}
			for r := range c.rows {
				if col.present(r) {
					return nil, fmt.Errorf("a V2 checkpoint (%s action): not implemented", v2)
				}
			}
		}
	}

	addPath := sc("add", "path")
	addPVk, addPVv := mp("add", "partitionValues")
	addSize, addMTime, addDC := sc("add", "size"), sc("add", "modificationTime"), sc("add", "dataChange")
	addStats := sc("add", "stats")
	addDVs, addDVp, addDVo := sc("add", "deletionVector", "storageType"), sc("add", "deletionVector", "pathOrInlineDv"),
		sc("add", "deletionVector", "offset")
	rmPath, rmTS, rmDC := sc("remove", "path"), sc("remove", "deletionTimestamp"), sc("remove", "dataChange")
	rmDVs, rmDVp, rmDVo := sc("remove", "deletionVector", "storageType"), sc("remove", "deletionVector", "pathOrInlineDv"),
		sc("remove", "deletionVector", "offset")
	txnApp, txnVer := sc("txn", "appId"), sc("txn", "version")
	prR, prW := sc("protocol", "minReaderVersion"), sc("protocol", "minWriterVersion")
	prRF, prWF := li("protocol", "readerFeatures"), li("protocol", "writerFeatures")
	mdID, mdName, mdDesc := sc("metaData", "id"), sc("metaData", "name"), sc("metaData", "description")
	mdProv, mdSchema, mdCreated := sc("metaData", "format", "provider"), sc("metaData", "schemaString"), sc("metaData", "createdTime")
	mdParts := li("metaData", "partitionColumns")
	mdConfK, mdConfV := mp("metaData", "configuration")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	var acts []action
	for r := range c.rows {
		if v, ok := prR.int(r); ok {
			w, _ := prW.int(r)
			acts = append(acts, action{protocol: &Protocol{MinReaderVersion: v, MinWriterVersion: w,
				ReaderFeatures: prRF.strings(r), WriterFeatures: prWF.strings(r)}})
		}
		if id, ok := mdID.str(r); ok {
			schema, _ := mdSchema.str(r)
			prov, _ := mdProv.str(r)
			parts := mdParts.strings(r)
			if parts == nil && mdParts.isList(r) {
				parts = []string{}
			}
			md, err := newMetadata(id, deref(mdName.strp(r)), deref(mdDesc.strp(r)), prov, schema, parts,
				mapAt(mdConfK, mdConfV, r), mdCreated.intp(r))
			if err != nil {
				return nil, err
			}
			acts = append(acts, action{metadata: md})
		}
		if app, ok := txnApp.str(r); ok {
			v, ok := txnVer.int(r)
			if !ok {
				return nil, fmt.Errorf("row %d: txn %s without a version", r, app)
			}
			acts = append(acts, action{txn: &txn{appID: app, version: v}})
		}
		if p, ok := addPath.str(r); ok {
			size, ok1 := addSize.int(r)
			mtime, ok2 := addMTime.int(r)
			dc, ok3 := addDC.bool(r)
			if !ok1 || !ok2 || !ok3 {
				return nil, fmt.Errorf("row %d: add %s without size, modificationTime or dataChange", r, p)
			}
			dv := ""
			if s, ok := addDVs.str(r); ok {
				dv = dvID(s, deref(addDVp.strp(r)), addDVo.intp(r))
			}
			f, err := newFile(p, mapAt(addPVk, addPVv, r), size, mtime, dc, addStats.strp(r), dv)
			if err != nil {
				return nil, err
			}
			acts = append(acts, action{add: f})
		}
		if p, ok := rmPath.str(r); ok {
			dc, _ := rmDC.bool(r)
			dv := ""
			if s, ok := rmDVs.str(r); ok {
				dv = dvID(s, deref(rmDVp.strp(r)), rmDVo.intp(r))
			}
			t, err := newTombstone(p, rmTS.intp(r), dc, dv)
			if err != nil {
				return nil, err
			}
			acts = append(acts, action{remove: t})
		}
	}
	return acts, nil
}
