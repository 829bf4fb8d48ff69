package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sensorlab/sensorlab/query/decode"
	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// SourceKind says whether a source is unbounded (a Kafka topic read as a
// stream) or bounded (a Delta table read as a snapshot).
type SourceKind uint8

// Source kinds.
const (
	Stream SourceKind = iota + 1 // CREATE SOURCE
	Table                        // CREATE TABLE
)

// Source is a bound CREATE SOURCE or CREATE TABLE.
type Source struct {
	Name string
	At   sql.Pos
	Kind SourceKind
	// Connector is "kafka" for a SOURCE, "delta" for a TABLE.
	Connector string
	Format    decode.Format
	// Decoded are the columns read from each record (payload fields and
	// Kafka metadata), in declaration order.
	Decoded []decode.Column
	// Computed are the computed columns, in declaration order.
	Computed []*sql.ColumnDef
	// Checks are the CONSTRAINT … CHECK entries: a row failing one is
	// dead-lettered with the constraint's name as its reason.
	Checks []*sql.CheckDef
	// Watermark is nil when none is declared.
	Watermark *Watermark
	// LateTopic (WITH late_topic = '…') receives every record whose event
	// time is at or before the batch's watermark, the rows the stateful
	// queries drop as late (Spark only counts them); "" drops them.
	LateTopic string
	// Key (WITH key = '…') is the column whose value the records' Kafka key
	// carries, as the kafka sink's key option writes it: all the records
	// of one value are in one partition. "" when not declared.
	Key string
	// Options are the WITH options, keys in lower case.
	Options map[string]string
	// Schema is every column in declaration order: decoded and computed.
	Schema types.Schema
	// order maps Schema positions to the executor's internal layout
	// (decoded columns first, then computed ones).
	order []int
}

// Watermark is WATERMARK FOR Column AS Column - Delay.
type Watermark struct {
	Column string
	Delay  int64 // micros
}

// The WITH options each connector accepts, for sources and for sinks.
var (
	sourceOptions = map[string][]string{
		"kafka": {"connector", "topic", "format", "scan.startup.mode", "startingoffsets", "late_topic", "key"},
		"delta": {"connector", "path"},
	}
	sinkOptions = map[string][]string{
		"delta":   {"connector", "path", "mode", "checkpoint", "partitioned_by", "compression"},
		"kafka":   {"connector", "topic", "mode", "checkpoint", "key"},
		"console": {"connector", "mode", "checkpoint", "numrows", "truncate"},
	}
)

// options checks a WITH list against the keys a connector accepts; def is
// the connector when none is given.
func options(with []*sql.Option, allowed map[string][]string, def, what string) (map[string]string, error) {
	m := make(map[string]string, len(with))
	at := make(map[string]sql.Pos, len(with))
	for _, o := range with {
		k := strings.ToLower(o.Key)
		if _, dup := m[k]; dup {
			return nil, sql.Errorf(o.At, "option %q is given twice", o.Key)
		}
		m[k], at[k] = o.Value, o.At
	}
	conn := strings.ToLower(m["connector"])
	if conn == "" {
		conn = def
	}
	keys, ok := allowed[conn]
	if !ok {
		var names []string
		for k := range allowed {
			names = append(names, "'"+k+"'")
		}
		slices.Sort(names)
		return nil, sql.Errorf(at["connector"], "%s connector %q is not supported: use one of %s", what, m["connector"], strings.Join(names, ", "))
	}
	m["connector"] = conn
	for k, p := range at {
		if !slices.Contains(keys, k) {
			return nil, sql.Errorf(p, "option %q is not known to the %s %s connector: it accepts %s", k, conn, what, strings.Join(keys, ", "))
		}
	}
	return m, nil
}

// bindSource checks a CREATE SOURCE / CREATE TABLE and returns its Source.
func bindSource(cs *sql.CreateSource) (*Source, error) {
	s := &Source{Name: cs.Name.Name, At: cs.At, Kind: Stream}
	def := "kafka"
	if cs.Table {
		s.Kind, def = Table, "delta"
	}
	opts, err := options(cs.With, sourceOptions, def, "source")
	if err != nil {
		return nil, err
	}
	s.Options, s.Connector = opts, opts["connector"]
	if s.Kind == Stream && s.Connector != "kafka" {
		return nil, sql.Errorf(cs.At, "CREATE SOURCE %s: a stream source reads a Kafka topic (connector = 'kafka'); a Delta table is read with CREATE TABLE", s.Name)
	}
	if s.Kind == Table && s.Connector != "delta" {
		return nil, sql.Errorf(cs.At, "CREATE TABLE %s: a table reads a Delta table (connector = 'delta'); a Kafka topic is read with CREATE SOURCE", s.Name)
	}
	if s.Connector == "kafka" {
		if opts["topic"] == "" {
			return nil, sql.Errorf(cs.At, "CREATE SOURCE %s: WITH (topic = '…') is required", s.Name)
		}
		switch strings.ToLower(opts["format"]) {
		case "", "json":
			s.Format = decode.JSON
		case "text":
			s.Format = decode.Text
		default:
			return nil, sql.Errorf(cs.At, "CREATE SOURCE %s: format %q is not supported: use 'json' or 'text'", s.Name, opts["format"])
		}
		mode := strings.ToLower(opts["scan.startup.mode"] + opts["startingoffsets"])
		if mode != "" && mode != "earliest" && mode != "latest" {
			return nil, sql.Errorf(cs.At, "CREATE SOURCE %s: startup mode %q: use 'earliest' or 'latest'", s.Name, mode)
		}
	} else if opts["path"] == "" {
		return nil, sql.Errorf(cs.At, "CREATE TABLE %s: WITH (path = '…') is required", s.Name)
	}

	seen := map[string]sql.Pos{}
	var decoded, computed []int // positions in cs.Columns
	for i, c := range cs.Columns {
		key := strings.ToLower(c.Name.Name)
		if p, dup := seen[key]; dup {
			return nil, sql.Errorf(c.At, "column %s is declared twice (first at %s)", c.Name.Name, p)
		}
		seen[key] = c.At
		if c.Computed != nil {
			s.Computed = append(s.Computed, c)
			computed = append(computed, i)
			continue
		}
		t, err := bindType(c.Type)
		if err != nil {
			return nil, err
		}
		col := decode.Column{Name: c.Name.Name, Type: t, NotNull: c.NotNull}
		if c.Metadata {
			col.Metadata = c.From
			if col.Metadata == "" {
				col.Metadata = c.Name.Name
			}
			if s.Connector != "kafka" {
				return nil, sql.Errorf(c.At, "column %s: METADATA columns exist only on Kafka sources", c.Name.Name)
			}
		}
		s.Decoded = append(s.Decoded, col)
		decoded = append(decoded, i)
	}
	s.Checks = cs.Checks
	// The executor lays columns out decoded first, then computed; Schema is
	// in declaration order.
	s.order = make([]int, len(cs.Columns))
	for internal, decl := range append(slices.Clone(decoded), computed...) {
		s.order[decl] = internal
	}
	if cs.Watermark != nil {
		w, err := bindWatermark(cs.Watermark)
		if err != nil {
			return nil, err
		}
		if _, ok := seen[strings.ToLower(w.Column)]; !ok {
			return nil, sql.Errorf(cs.Watermark.Column.At, "WATERMARK FOR %s: no such column in %s", w.Column, s.Name)
		}
		s.Watermark = w
	}
	if s.Kind == Table && s.Watermark != nil {
		return nil, sql.Errorf(cs.Watermark.At, "CREATE TABLE %s: a table is read in batch mode and takes no watermark", s.Name)
	}
	if t, ok := opts["late_topic"]; ok {
		switch {
		case s.Watermark == nil:
			return nil, sql.Errorf(cs.At, "CREATE SOURCE %s: late_topic receives the records dropped as late: it needs a WATERMARK FOR … clause", s.Name)
		case t == "" || t == opts["topic"]:
			return nil, sql.Errorf(cs.At, "CREATE SOURCE %s: late_topic %q: name a topic other than the source's", s.Name, t)
		}
		s.LateTopic = t
	}
	if k, ok := opts["key"]; ok {
		i := slices.IndexFunc(s.Decoded, func(c decode.Column) bool { return strings.EqualFold(c.Name, k) })
		switch {
		case i < 0 && slices.ContainsFunc(cs.Columns, func(c *sql.ColumnDef) bool { return strings.EqualFold(c.Name.Name, k) }):
			return nil, sql.Errorf(cs.At, "CREATE SOURCE %s: key %q: name a column read from the record, not a computed one", s.Name, k)
		case i < 0:
			return nil, sql.Errorf(cs.At, "CREATE SOURCE %s: key %q: no such column (the key option names the column the records' Kafka key carries)", s.Name, k)
		case s.Decoded[i].Type.Kind != types.String:
			return nil, sql.Errorf(cs.At, "CREATE SOURCE %s: key %q: the column is %s; a Kafka key is compared as text: name a STRING column", s.Name, k, s.Decoded[i].Type)
		}
		s.Key = s.Decoded[i].Name
	}
	return s, nil
}

// bindWatermark accepts `col` and `col - INTERVAL …`.
func bindWatermark(w *sql.WatermarkDef) (*Watermark, error) {
	out := &Watermark{Column: w.Column.Name}
	e := unparen(w.Expr)
	if ref, ok := e.(*sql.ColumnRef); ok && len(ref.Parts) == 1 && strings.EqualFold(ref.Parts[0].Name, out.Column) {
		return out, nil
	}
	b, ok := e.(*sql.Binary)
	if ok && b.Op == "-" {
		ref, okL := unparen(b.L).(*sql.ColumnRef)
		iv, okR := unparen(b.R).(*sql.Interval)
		if okL && okR && len(ref.Parts) == 1 && strings.EqualFold(ref.Parts[0].Name, out.Column) {
			if iv.Micros < 0 {
				return nil, sql.Errorf(iv.At, "the watermark delay %s is negative", iv.Text)
			}
			out.Delay = iv.Micros
			return out, nil
		}
	}
	return nil, sql.Errorf(w.Expr.Start(), "WATERMARK FOR %s AS …: write %s - INTERVAL '…' (the column minus a delay), as Spark's withWatermark(%q, \"1 minute\") says", out.Column, out.Column, out.Column)
}

func unparen(e sql.Expr) sql.Expr {
	for {
		p, ok := e.(*sql.Paren)
		if !ok {
			return e
		}
		e = p.X
	}
}

// bindType resolves a written type name.
func bindType(tn *sql.TypeName) (types.Type, error) {
	if strings.EqualFold(tn.Name, "DECIMAL") || strings.EqualFold(tn.Name, "NUMERIC") || strings.EqualFold(tn.Name, "DEC") {
		p, s := 10, 0 // Spark's DECIMAL default
		switch len(tn.Args) {
		case 0:
		case 1:
			p = tn.Args[0]
		case 2:
			p, s = tn.Args[0], tn.Args[1]
		default:
			return types.Type{}, sql.Errorf(tn.At, "DECIMAL takes a precision and a scale: DECIMAL(10,2)")
		}
		if err := types.CheckDecimal(p, s); err != nil {
			return types.Type{}, sql.Errorf(tn.At, "%v", err)
		}
		return types.DecimalOf(p, s), nil
	}
	t, ok := types.ParseTypeName(tn.Name)
	if !ok {
		return types.Type{}, sql.Errorf(tn.At, "type %s is not supported: use STRING, BOOLEAN, INT, BIGINT, DOUBLE, DECIMAL(p,s), TIMESTAMP or DATE", tn.Name)
	}
	if len(tn.Args) > 0 {
		return types.Type{}, sql.Errorf(tn.At, "type %s takes no parameters", tn.Name)
	}
	return t, nil
}

// String describes the source for messages and the live page.
func (s *Source) String() string {
	if s.Kind == Table {
		return fmt.Sprintf("delta table %s (%s)", s.Name, s.Options["path"])
	}
	return fmt.Sprintf("kafka topic %s (%s)", s.Options["topic"], s.Name)
}
