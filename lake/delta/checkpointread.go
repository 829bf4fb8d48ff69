package delta

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
)

// The checkpoint reader. A checkpoint is read column by column: each leaf
// column an action field needs is decoded page by page, and its values go
// straight into the field (strings copied once, no intermediate row, no
// JSON), while every other column (add.stats_parsed, commitInfo, a
// writer's extra fields) is never decompressed. The columns are found in
// the file's own schema, by the rules readParquetRows follows: lists and
// maps whatever the names of their inner fields, fields matched by name
// as encoding/json matches them (case-insensitively), INT32 or INT64 for
// integers. A file whose shape this column reader does not expect (an
// integer stored as a string, a map whose key is not a string, a list of
// structs, ...) is read by the generic reader instead
// (readCheckpointRows), which decides what it means. For every file the
// column reader takes, both give the same actions in the same order
// (checkpointread_internal_test.go checks it on random checkpoints and on
// every checkpoint the package's tests read).

// errShape says the column reader does not handle the file's layout.
var errShape = errors.New("checkpoint layout not handled by the column reader")

// readCheckpointFile calls apply with every action of a checkpoint file,
// row by row, in the order protocol, metaData, txn, domainMetadata, add,
// remove within a row. A V2 checkpoint's checkpointMetadata or sidecar row
// is an *UnsupportedFeatureError.
func readCheckpointFile(f *parquet.File, apply func(Action) error) error {
	r, err := newCkReader(f.Schema())
	if errors.Is(err, errShape) {
		return readCheckpointRows(f, apply)
	}
	if err != nil {
		return err
	}
	return r.read(f, apply)
}

// readCheckpointRows is the generic checkpoint reader: rows assembled into
// generic values (readParquetRows), each action decoded as the JSON of its
// commit-file form.
func readCheckpointRows(f *parquet.File, apply func(Action) error) error {
	return readFileRows(f, checkpointColumns, func(row map[string]any) error {
		for _, name := range checkpointColumns {
			v, ok := row[name]
			if !ok {
				continue
			}
			if name == "checkpointMetadata" || name == "sidecar" {
				return v2CheckpointError(name)
			}
			b, err := json.Marshal(map[string]any{name: v})
			if err != nil {
				return err
			}
			var a Action
			if err := json.Unmarshal(b, &a); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if err := apply(a); err != nil {
				return err
			}
		}
		return nil
	})
}

func v2CheckpointError(column string) error {
	return &UnsupportedFeatureError{Feature: "v2Checkpoint", Reader: true,
		Detail: "the checkpoint follows the V2 spec (" + column + " rows)"}
}

// ckNode is a node of the file's schema with where its leaves are and the
// levels at which it is defined.
type ckNode struct {
	node     parquet.Node
	col      int // its first leaf column
	def, rep int // definition and repetition levels of the node itself
}

// child finds the field named name (as encoding/json finds a struct field
// for a key: an exact match, else the one that matches case-insensitively;
// several such is a shape the column reader leaves to the generic one).
func (n ckNode) child(name string, exact bool) (ckNode, bool, error) {
	col := n.col
	var found []ckNode
	var exactMatch *ckNode
	for _, f := range n.node.Fields() {
		c := ckNode{node: f, col: col, def: n.def, rep: n.rep}
		if f.Optional() || f.Repeated() {
			c.def++
		}
		if f.Repeated() {
			c.rep++
		}
		switch {
		case f.Name() == name:
			exactMatch = &c
		case !exact && strings.EqualFold(f.Name(), name):
			found = append(found, c)
		}
		col += numLeaves(f)
	}
	if exactMatch != nil {
		return *exactMatch, true, nil
	}
	switch len(found) {
	case 0:
		return ckNode{}, false, nil
	case 1:
		return found[0], true, nil
	}
	return ckNode{}, false, fmt.Errorf("%w: %d fields named %q", errShape, len(found), name)
}

// ckCursor reads one leaf column of a row group, a row at a time.
type ckCursor struct {
	col      int // leaf column index
	pages    parquet.Pages
	values   parquet.ValueReader // the current page's; nil between pages
	buf      []parquet.Value
	i, n     int
	repeated bool
	row      []parquet.Value // the current row's values (one unless repeated)
}

// next reads the next row's values into c.row.
func (c *ckCursor) next() error {
	c.row = c.row[:0]
	for {
		if c.i == c.n {
			for i := range c.row { // a row that goes on in the next page keeps its bytes
				c.row[i] = c.row[i].Clone()
			}
			if err := c.fill(); err == io.EOF && len(c.row) > 0 {
				return nil
			} else if err == io.EOF {
				return fmt.Errorf("column ends before its row group")
			} else if err != nil {
				return err
			}
		}
		v := c.buf[c.i]
		if len(c.row) > 0 && v.RepetitionLevel() == 0 {
			return nil
		}
		c.row = append(c.row, v)
		c.i++
		if !c.repeated {
			return nil
		}
	}
}

// skip passes over k rows in which the column's action is null: one
// (null) value each, whatever the column's repetition.
func (c *ckCursor) skip(k int) error {
	for k > 0 {
		if c.i == c.n {
			if err := c.fill(); err == io.EOF {
				return fmt.Errorf("column ends before its row group")
			} else if err != nil {
				return err
			}
		}
		d := min(k, c.n-c.i)
		c.i += d
		k -= d
	}
	return nil
}

// fill reads the next values of the column, going on to the next page
// when the current one is done; io.EOF at the end of the column chunk.
func (c *ckCursor) fill() error {
	for {
		if c.values != nil {
			n, err := c.values.ReadValues(c.buf)
			switch {
			case err == io.EOF:
				c.values = nil
			case err != nil:
				return err
			case n == 0:
				return io.ErrNoProgress
			}
			if n > 0 {
				c.i, c.n = 0, n
				return nil
			}
			continue
		}
		p, err := c.pages.ReadPage()
		if err != nil {
			return err // io.EOF: the chunk is done
		}
		c.values = p.Values()
	}
}

// ckGroup is the bound columns of one action: the column that says
// whether a row holds the action, read in every row, and the others, read
// only in rows that hold it. In a row where the action is null each of
// them holds one null value, so they are passed over in bulk (skipped) the
// next time they are read: a checkpoint's rows each hold one action, and
// the columns of the others cost next to nothing.
type ckGroup struct {
	presence *ckCursor
	def      int // the action's definition level (1)
	others   []*ckCursor
	skipped  int // rows since the others were read
}

// ckBinder binds action fields to leaf columns of a file's schema.
type ckBinder struct {
	cursors map[int]*ckCursor
	groups  []*ckGroup
	err     error // the first layout problem
}

// cursor returns the cursor of a leaf column, new ones joining the group
// of the action being bound (the last one).
func (b *ckBinder) cursor(n ckNode) *ckCursor {
	c, ok := b.cursors[n.col]
	if !ok {
		c = &ckCursor{col: n.col, buf: make([]parquet.Value, 256), repeated: n.rep > 0}
		b.cursors[n.col] = c
		g := b.groups[len(b.groups)-1]
		g.others = append(g.others, c)
	}
	return c
}

func (b *ckBinder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// field finds a field of a group; ok is false when the file does not have it.
func (b *ckBinder) field(g ckNode, name string) (ckNode, bool) {
	if g.node == nil {
		return ckNode{}, false
	}
	n, ok, err := g.child(name, false)
	if err != nil {
		b.fail(err)
		return ckNode{}, false
	}
	if ok && n.node.Repeated() {
		b.fail(fmt.Errorf("%w: field %q is repeated", errShape, name))
		return ckNode{}, false
	}
	return n, ok
}

// ckPresence says whether a group is non-null in the current row: the
// first value of its first leaf is defined at least to the group's level.
type ckPresence struct {
	c   *ckCursor
	def int
}

func (b *ckBinder) presence(g ckNode) ckPresence {
	if numLeaves(g.node) == 0 {
		b.fail(fmt.Errorf("%w: a group has no columns", errShape))
		return ckPresence{}
	}
	return ckPresence{b.cursor(ckNode{node: g.node, col: g.col, rep: deepestRep(g)}), g.def}
}

// deepestRep is the repetition level of a group's first leaf.
func deepestRep(g ckNode) int {
	rep, n := g.rep, g.node
	for !n.Leaf() {
		for _, f := range n.Fields() {
			if numLeaves(f) > 0 {
				n = f
				break
			}
		}
		if n.Repeated() {
			rep++
		}
	}
	return rep
}

func (p ckPresence) ok() bool { return p.c != nil && p.c.row[0].DefinitionLevel() >= p.def }

// ckLeaf is a primitive field: its value in the current row, if defined.
type ckLeaf struct {
	c    *ckCursor
	def  int
	kind parquet.Kind
}

func (l ckLeaf) value() (parquet.Value, bool) {
	if l.c == nil {
		return parquet.Value{}, false
	}
	v := l.c.row[0]
	return v, v.DefinitionLevel() >= l.def
}

func (l ckLeaf) str() string {
	if v, ok := l.value(); ok {
		return string(v.ByteArray())
	}
	return ""
}

func (l ckLeaf) int64() (int64, bool) {
	v, ok := l.value()
	if !ok {
		return 0, false
	}
	if l.kind == parquet.Int32 {
		return int64(v.Int32()), true
	}
	return v.Int64(), true
}

func (l ckLeaf) int64Ptr(a *ckArena) *int64 {
	if n, ok := l.int64(); ok {
		p := next(&a.ints)
		*p = n
		return p
	}
	return nil
}

func (l ckLeaf) int32() (int32, bool, error) {
	n, ok := l.int64()
	if n < math.MinInt32 || n > math.MaxInt32 {
		return 0, false, fmt.Errorf("value %d overflows int32", n)
	}
	return int32(n), ok, nil
}

func (l ckLeaf) bool() (bool, bool) {
	if v, ok := l.value(); ok {
		return v.Boolean(), true
	}
	return false, false
}

// leaf binds a primitive field of one of the kinds given.
func (b *ckBinder) leaf(g ckNode, name string, kinds ...parquet.Kind) ckLeaf {
	n, ok := b.field(g, name)
	if !ok {
		return ckLeaf{}
	}
	if !n.node.Leaf() {
		b.fail(fmt.Errorf("%w: field %q is a group", errShape, name))
		return ckLeaf{}
	}
	k := n.node.Type().Kind()
	for _, want := range kinds {
		if k == want {
			return ckLeaf{c: b.cursor(n), def: n.def, kind: k}
		}
	}
	b.fail(fmt.Errorf("%w: field %q is %s", errShape, name, k))
	return ckLeaf{}
}

func (b *ckBinder) str(g ckNode, name string) ckLeaf {
	return b.leaf(g, name, parquet.ByteArray, parquet.FixedLenByteArray)
}

func (b *ckBinder) int(g ckNode, name string) ckLeaf {
	return b.leaf(g, name, parquet.Int64, parquet.Int32)
}

func (b *ckBinder) bool(g ckNode, name string) ckLeaf { return b.leaf(g, name, parquet.Boolean) }

// group binds a nested struct field (format, deletionVector) and its
// presence.
func (b *ckBinder) group(g ckNode, name string) (ckNode, ckPresence) {
	n, ok := b.field(g, name)
	if !ok {
		return ckNode{}, ckPresence{}
	}
	if n.node.Leaf() || groupKind(n.node) != -1 {
		b.fail(fmt.Errorf("%w: field %q is not a struct", errShape, name))
		return ckNode{}, ckPresence{}
	}
	return n, b.presence(n)
}

// ckRepeated is a map or list field: the group itself, the repeated node
// (an entry exists) and its leaf columns (the key and the value of a map,
// the element of a list).
type ckRepeated struct {
	c, v            *ckCursor // key or element; value (maps)
	def, entry, val int       // levels: the field non-null, an entry, the value or element non-null
}

// entries returns the number of entries in the current row, and -1 for a
// null field.
func (r ckRepeated) entries() int {
	first := r.c.row[0].DefinitionLevel()
	switch {
	case first < r.def:
		return -1
	case first < r.entry:
		return 0
	}
	return len(r.c.row)
}

// strMap binds a MAP of string to string; a map of anything else, or not
// annotated MAP, is left to the generic reader.
func (b *ckBinder) strMap(g ckNode, name string) ckRepeated {
	n, ok := b.field(g, name)
	if !ok {
		return ckRepeated{}
	}
	if n.node.Leaf() {
		b.fail(fmt.Errorf("%w: field %q is not a map", errShape, name))
		return ckRepeated{}
	}
	switch groupKind(n.node) {
	case deprecated.Map, deprecated.MapKeyValue:
	default:
		b.fail(fmt.Errorf("%w: field %q is not a map", errShape, name))
		return ckRepeated{}
	}
	fields := n.node.Fields()
	if len(fields) != 1 || !fields[0].Repeated() || fields[0].Leaf() || len(fields[0].Fields()) != 2 {
		b.fail(fmt.Errorf("%w: map %q does not hold one repeated group of key and value", errShape, name))
		return ckRepeated{}
	}
	kv := ckNode{node: fields[0], col: n.col, def: n.def + 1, rep: n.rep + 1}
	key, val := kv.node.Fields()[0], kv.node.Fields()[1]
	if !key.Leaf() || key.Optional() || key.Repeated() || !isString(key) || !val.Leaf() || val.Repeated() || !isString(val) {
		b.fail(fmt.Errorf("%w: map %q is not of string to string", errShape, name))
		return ckRepeated{}
	}
	r := ckRepeated{def: n.def, entry: kv.def, val: kv.def}
	if val.Optional() {
		r.val++
	}
	r.c = b.cursor(ckNode{node: key, col: kv.col, def: kv.def, rep: kv.rep})
	r.v = b.cursor(ckNode{node: val, col: kv.col + 1, def: r.val, rep: kv.rep})
	return r
}

func isString(n parquet.Node) bool {
	k := n.Type().Kind()
	return k == parquet.ByteArray || k == parquet.FixedLenByteArray
}

// stringMap returns the map in the current row: nil when null, as JSON null
// decodes; a null value is "".
func (r ckRepeated) stringMap(a *ckArena) (map[string]string, error) {
	if r.c == nil {
		return nil, nil
	}
	n := r.entries()
	if n < 0 {
		return nil, nil
	}
	m := make(map[string]string, n)
	if n == 0 {
		return m, nil
	}
	if len(r.v.row) != n {
		return nil, fmt.Errorf("map of %d keys and %d values", n, len(r.v.row))
	}
	for i, k := range r.c.row {
		v := ""
		if vv := r.v.row[i]; vv.DefinitionLevel() >= r.val {
			v = a.intern(vv.ByteArray())
		}
		m[a.intern(k.ByteArray())] = v
	}
	return m, nil
}

// strList binds a LIST of strings in any of the layouts the Parquet spec
// allows (the ones readParquetRows reads: three-level, whatever the inner
// names, or two-level).
func (b *ckBinder) strList(g ckNode, name string) ckRepeated {
	n, ok := b.field(g, name)
	if !ok {
		return ckRepeated{}
	}
	if n.node.Leaf() || groupKind(n.node) != deprecated.List {
		b.fail(fmt.Errorf("%w: field %q is not a list", errShape, name))
		return ckRepeated{}
	}
	fields := n.node.Fields()
	if len(fields) != 1 || !fields[0].Repeated() {
		b.fail(fmt.Errorf("%w: list %q does not hold one repeated field", errShape, name))
		return ckRepeated{}
	}
	rn := fields[0]
	r := ckRepeated{def: n.def, entry: n.def + 1}
	elem := ckNode{node: rn, col: n.col, def: r.entry, rep: n.rep + 1}
	if threeLevel := !rn.Leaf() && len(rn.Fields()) == 1 && rn.Name() != "array" && !strings.HasSuffix(rn.Name(), "_tuple"); threeLevel {
		e := rn.Fields()[0]
		elem.node = e
		if e.Optional() {
			elem.def++
		}
		if e.Repeated() {
			b.fail(fmt.Errorf("%w: list %q of lists", errShape, name))
			return ckRepeated{}
		}
	}
	if !elem.node.Leaf() || !isString(elem.node) {
		b.fail(fmt.Errorf("%w: list %q is not of strings", errShape, name))
		return ckRepeated{}
	}
	r.val = elem.def
	r.c = b.cursor(elem)
	return r
}

// strings returns the list in the current row: nil when null; a null
// element is "".
func (r ckRepeated) strings() []string {
	if r.c == nil {
		return nil
	}
	n := r.entries()
	if n < 0 {
		return nil
	}
	out := make([]string, n)
	for i := range n {
		if v := r.c.row[i]; v.DefinitionLevel() >= r.val {
			out[i] = string(v.ByteArray())
		}
	}
	return out
}

// The bound columns of each action.

type ckTxnCols struct {
	present              ckPresence
	appID, version, last ckLeaf
}

type ckDVCols struct {
	present                          ckPresence
	storageType, path                ckLeaf
	offset, sizeInBytes, cardinality ckLeaf
}

// ckFileCols are add's or remove's columns; modificationTime and
// clusteringProvider are add's only, deletionTimestamp and
// extendedFileMetadata remove's.
type ckFileCols struct {
	present                            ckPresence
	path, stats, clusteringProvider    ckLeaf
	size, modificationTime             ckLeaf
	deletionTime                       ckLeaf
	baseRowID, defaultRowCommitVersion ckLeaf
	dataChange, extendedFileMetadata   ckLeaf
	partitionValues, tags              ckRepeated
	dv                                 ckDVCols
}

type ckMetadataCols struct {
	present                                 ckPresence
	id, name, description, schema, provider ckLeaf
	createdTime                             ckLeaf
	options, configuration                  ckRepeated
	partitionColumns                        ckRepeated
}

type ckProtocolCols struct {
	present                        ckPresence
	minReader, minWriter           ckLeaf
	readerFeatures, writerFeatures ckRepeated
}

type ckDomainCols struct {
	present               ckPresence
	domain, configuration ckLeaf
	removed               ckLeaf
}

// ckArena allocates the reader's adds, removes and optional numbers in
// chunks: a checkpoint of thousands of files would otherwise cost an
// allocation for every action and every number. A chunk lives as long as
// any action in it does (a snapshot keeps them all anyway). Map keys and
// values, which repeat from file to file (partition values, tags), are
// interned.
type ckArena struct {
	adds    []Add
	removes []Remove
	ints    []int64
	bools   []bool
	strs    map[string]string
}

// next hands out the next element of a chunk, allocating a new chunk when
// this one is used up.
func next[T any](chunk *[]T) *T {
	if len(*chunk) == 0 {
		*chunk = make([]T, 256)
	}
	p := &(*chunk)[0]
	*chunk = (*chunk)[1:]
	return p
}

func (a *ckArena) intern(b []byte) string {
	if s, ok := a.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(a.strs) < 4096 { // bounded: a table of unique tags interns nothing useful
		a.strs[s] = s
	}
	return s
}

// ckReader reads a checkpoint file whose layout its binder accepted.
type ckReader struct {
	arena    ckArena
	groups   []*ckGroup
	cursors  []*ckCursor // every bound column, once
	protocol ckProtocolCols
	metadata ckMetadataCols
	txn      ckTxnCols
	domain   ckDomainCols
	add      ckFileCols
	remove   ckFileCols
	v2       []ckPresence // checkpointMetadata, sidecar
	v2Names  []string
}

// newCkReader binds the action fields to the columns of schema; an error
// wrapping errShape when the layout is not one it reads.
func newCkReader(schema parquet.Node) (*ckReader, error) {
	b := &ckBinder{cursors: map[int]*ckCursor{}}
	root := ckNode{node: schema}
	r := &ckReader{arena: ckArena{strs: map[string]string{}}}
	action := func(name string) (ckNode, ckPresence) {
		n, ok, _ := root.child(name, true)
		if !ok {
			return ckNode{}, ckPresence{}
		}
		if n.node.Leaf() || !n.node.Optional() {
			b.fail(fmt.Errorf("%w: %q is not an optional group", errShape, name))
			return ckNode{}, ckPresence{}
		}
		g := &ckGroup{def: n.def}
		b.groups = append(b.groups, g)
		p := b.presence(n)
		if p.c != nil {
			g.presence, g.others = p.c, nil
		}
		return n, p
	}
	var g ckNode
	g, r.protocol.present = action("protocol")
	r.protocol.minReader, r.protocol.minWriter = b.int(g, "minReaderVersion"), b.int(g, "minWriterVersion")
	r.protocol.readerFeatures, r.protocol.writerFeatures = b.strList(g, "readerFeatures"), b.strList(g, "writerFeatures")

	g, r.metadata.present = action("metaData")
	m := &r.metadata
	m.id, m.name, m.description, m.schema = b.str(g, "id"), b.str(g, "name"), b.str(g, "description"), b.str(g, "schemaString")
	m.createdTime = b.int(g, "createdTime")
	m.configuration, m.partitionColumns = b.strMap(g, "configuration"), b.strList(g, "partitionColumns")
	format, _ := b.group(g, "format")
	m.provider, m.options = b.str(format, "provider"), b.strMap(format, "options")

	g, r.txn.present = action("txn")
	r.txn.appID, r.txn.version, r.txn.last = b.str(g, "appId"), b.int(g, "version"), b.int(g, "lastUpdated")

	g, r.domain.present = action("domainMetadata")
	r.domain.domain, r.domain.configuration, r.domain.removed = b.str(g, "domain"), b.str(g, "configuration"), b.bool(g, "removed")

	// add and remove: the fields of Add and Remove.
	file := func(name string, c *ckFileCols) ckNode {
		var g ckNode
		g, c.present = action(name)
		c.path, c.stats = b.str(g, "path"), b.str(g, "stats")
		c.size, c.dataChange = b.int(g, "size"), b.bool(g, "dataChange")
		c.baseRowID, c.defaultRowCommitVersion = b.int(g, "baseRowId"), b.int(g, "defaultRowCommitVersion")
		c.partitionValues, c.tags = b.strMap(g, "partitionValues"), b.strMap(g, "tags")
		var dv ckNode
		dv, c.dv.present = b.group(g, "deletionVector")
		c.dv.storageType, c.dv.path = b.str(dv, "storageType"), b.str(dv, "pathOrInlineDv")
		c.dv.offset, c.dv.sizeInBytes, c.dv.cardinality = b.int(dv, "offset"), b.int(dv, "sizeInBytes"), b.int(dv, "cardinality")
		return g
	}
	g = file("add", &r.add)
	r.add.modificationTime, r.add.clusteringProvider = b.int(g, "modificationTime"), b.str(g, "clusteringProvider")
	g = file("remove", &r.remove)
	r.remove.deletionTime, r.remove.extendedFileMetadata = b.int(g, "deletionTimestamp"), b.bool(g, "extendedFileMetadata")
	for _, name := range []string{"checkpointMetadata", "sidecar"} {
		if g, p := action(name); g.node != nil {
			r.v2, r.v2Names = append(r.v2, p), append(r.v2Names, name)
		}
	}
	if b.err != nil {
		return nil, b.err
	}
	r.groups = b.groups
	for _, g := range b.groups {
		r.cursors = append(append(r.cursors, g.presence), g.others...)
	}
	return r, nil
}

// read decodes every row group of f.
func (r *ckReader) read(f *parquet.File, apply func(Action) error) error {
	for _, rg := range f.RowGroups() {
		chunks := rg.ColumnChunks()
		for _, c := range r.cursors {
			if c.col >= len(chunks) {
				return fmt.Errorf("row group has %d columns, the schema more", len(chunks))
			}
			c.pages, c.values, c.i, c.n = chunks[c.col].Pages(), nil, 0, 0
		}
		for _, g := range r.groups {
			g.skipped = 0
		}
		err := r.readRows(rg.NumRows(), apply)
		for _, c := range r.cursors {
			if cerr := c.pages.Close(); err == nil {
				err = cerr
			}
			c.pages = nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *ckReader) readRows(rows int64, apply func(Action) error) error {
	for range rows {
		for _, g := range r.groups {
			if err := g.presence.next(); err != nil {
				return fmt.Errorf("column %d: %w", g.presence.col, err)
			}
			if g.presence.row[0].DefinitionLevel() < g.def {
				g.skipped++
				continue
			}
			for _, c := range g.others {
				if err := c.skip(g.skipped); err != nil {
					return fmt.Errorf("column %d: %w", c.col, err)
				}
				if err := c.next(); err != nil {
					return fmt.Errorf("column %d: %w", c.col, err)
				}
			}
			g.skipped = 0
		}
		if err := r.row(apply); err != nil {
			return err
		}
	}
	return nil
}

// row applies the actions of the current row.
func (r *ckReader) row(apply func(Action) error) error {
	if r.protocol.present.ok() {
		p, err := r.protocol.decode()
		if err != nil {
			return fmt.Errorf("protocol: %w", err)
		}
		if err := apply(Action{Protocol: &p}); err != nil {
			return err
		}
	}
	if r.metadata.present.ok() {
		md, err := r.metadata.decode(&r.arena)
		if err != nil {
			return fmt.Errorf("metaData: %w", err)
		}
		if err := apply(Action{Metadata: &md}); err != nil {
			return err
		}
	}
	if t := &r.txn; t.present.ok() {
		v, _ := t.version.int64()
		if err := apply(Action{Txn: &Txn{AppID: t.appID.str(), Version: v, LastUpdated: t.last.int64Ptr(&r.arena)}}); err != nil {
			return err
		}
	}
	if d := &r.domain; d.present.ok() {
		removed, _ := d.removed.bool()
		if err := apply(Action{DomainMetadata: &DomainMetadata{Domain: d.domain.str(), Configuration: d.configuration.str(), Removed: removed}}); err != nil {
			return err
		}
	}
	if c := &r.add; c.present.ok() {
		a := next(&r.arena.adds)
		if err := c.decodeAdd(a, &r.arena); err != nil {
			return fmt.Errorf("add: %w", err)
		}
		if err := apply(Action{Add: a}); err != nil {
			return err
		}
	}
	if c := &r.remove; c.present.ok() {
		rm := next(&r.arena.removes)
		if err := c.decodeRemove(rm, &r.arena); err != nil {
			return fmt.Errorf("remove: %w", err)
		}
		if err := apply(Action{Remove: rm}); err != nil {
			return err
		}
	}
	for i, p := range r.v2 {
		if p.ok() {
			return v2CheckpointError(r.v2Names[i])
		}
	}
	return nil
}

func (c *ckProtocolCols) decode() (Protocol, error) {
	var p Protocol
	var err error
	if p.MinReaderVersion, _, err = c.minReader.int32(); err != nil {
		return p, err
	}
	if p.MinWriterVersion, _, err = c.minWriter.int32(); err != nil {
		return p, err
	}
	p.ReaderFeatures, p.WriterFeatures = c.readerFeatures.strings(), c.writerFeatures.strings()
	return p, nil
}

func (c *ckMetadataCols) decode(a *ckArena) (Metadata, error) {
	md := Metadata{ID: c.id.str(), Name: c.name.str(), Description: c.description.str(),
		SchemaString: c.schema.str(), CreatedTime: c.createdTime.int64Ptr(a),
		PartitionColumns: c.partitionColumns.strings()}
	md.Format.Provider = c.provider.str()
	var err error
	if md.Format.Options, err = c.options.stringMap(a); err != nil {
		return md, fmt.Errorf("format.options: %w", err)
	}
	if md.Configuration, err = c.configuration.stringMap(a); err != nil {
		return md, fmt.Errorf("configuration: %w", err)
	}
	return md, nil
}

func (c *ckDVCols) decode() (*DeletionVector, error) {
	if !c.present.ok() {
		return nil, nil
	}
	dv := &DeletionVector{StorageType: c.storageType.str(), PathOrInlineDv: c.path.str()}
	dv.Cardinality, _ = c.cardinality.int64()
	off, ok, err := c.offset.int32()
	if err != nil {
		return nil, fmt.Errorf("deletionVector.offset: %w", err)
	}
	if ok {
		dv.Offset = &off
	}
	if dv.SizeInBytes, _, err = c.sizeInBytes.int32(); err != nil {
		return nil, fmt.Errorf("deletionVector.sizeInBytes: %w", err)
	}
	return dv, nil
}

func (c *ckFileCols) decodeAdd(a *Add, arena *ckArena) error {
	*a = Add{Path: c.path.str(), Stats: c.stats.str(), ClusteringProvider: c.clusteringProvider.str(),
		BaseRowID: c.baseRowID.int64Ptr(arena), DefaultRowCommitVersion: c.defaultRowCommitVersion.int64Ptr(arena)}
	a.Size, _ = c.size.int64()
	a.ModificationTime, _ = c.modificationTime.int64()
	a.DataChange, _ = c.dataChange.bool()
	var err error
	if a.PartitionValues, err = c.partitionValues.stringMap(arena); err != nil {
		return fmt.Errorf("partitionValues: %w", err)
	}
	if a.Tags, err = c.tags.stringMap(arena); err != nil {
		return fmt.Errorf("tags: %w", err)
	}
	a.DeletionVector, err = c.dv.decode()
	return err
}

func (c *ckFileCols) decodeRemove(r *Remove, arena *ckArena) error {
	*r = Remove{Path: c.path.str(), Stats: c.stats.str(), DeletionTimestamp: c.deletionTime.int64Ptr(arena),
		Size: c.size.int64Ptr(arena), BaseRowID: c.baseRowID.int64Ptr(arena), DefaultRowCommitVersion: c.defaultRowCommitVersion.int64Ptr(arena)}
	r.DataChange, _ = c.dataChange.bool()
	if b, ok := c.extendedFileMetadata.bool(); ok {
		r.ExtendedFileMetadata = next(&arena.bools)
		*r.ExtendedFileMetadata = b
	}
	var err error
	if r.PartitionValues, err = c.partitionValues.stringMap(arena); err != nil {
		return fmt.Errorf("partitionValues: %w", err)
	}
	if r.Tags, err = c.tags.stringMap(arena); err != nil {
		return fmt.Errorf("tags: %w", err)
	}
	r.DeletionVector, err = c.dv.decode()
	return err
}
