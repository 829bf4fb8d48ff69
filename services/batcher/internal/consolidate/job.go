package consolidate

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/sensorlab/sensorlab/queries"
	"github.com/sensorlab/sensorlab/query/plan"
	"github.com/sensorlab/sensorlab/query/sql"
	"github.com/sensorlab/sensorlab/query/types"
)

// Job is a compiled batch query: one CREATE TABLE read as a Delta table
// snapshot, one CREATE SINK … AS SELECT into a Delta table.
type Job struct {
	// File names the query file, for messages.
	File  string
	Query *plan.Query
	// Source and Sink are the two tables' roots in the lake (their path
	// options).
	Source, Sink string
	// Read are the table's columns the query needs, in declaration
	// order: a column is left unread when the script compiles to the same
	// output without it.
	Read types.Schema
	// readIndex maps Read's columns to the source schema's positions.
	readIndex []int
}

// SeedJob compiles the seed lab's consolidation, queries/seed/batch.sql,
// embedded in the binary.
func SeedJob() (*Job, error) {
	text, err := fs.ReadFile(queries.FS, queries.SeedBatch)
	if err != nil {
		return nil, fmt.Errorf("the embedded seed query: %w", err)
	}
	return CompileJob("queries/"+queries.SeedBatch, string(text))
}

// CompileJob compiles a batch query file for the batcher: exactly one
// query, reading a CREATE TABLE of plain columns (no computed columns or
// CHECK constraints: the table's rows are read as they are), into a Delta
// sink.
func CompileJob(file, text string) (*Job, error) {
	script, err := sql.Parse(file, text)
	if err != nil {
		return nil, err
	}
	prog, err := plan.Compile(script, plan.Batch)
	if err != nil {
		return nil, err
	}
	if len(prog.Queries) != 1 {
		return nil, fmt.Errorf("%s: the batcher runs one query per file; this one defines %d", file, len(prog.Queries))
	}
	q := prog.Queries[0]
	src := q.Source
	switch {
	case src == nil || src.Kind != plan.Table:
		return nil, fmt.Errorf("%s: query %s reads no table", file, q.Name)
	case q.Sink.Connector != "delta":
		return nil, fmt.Errorf("%s:%s: sink %s: the batcher writes Delta tables (connector = 'delta'), not %s", file, q.Sink.At, q.Sink.Name, q.Sink.Connector)
	case len(src.Computed) > 0 || len(src.Checks) > 0:
		return nil, fmt.Errorf("%s:%s: table %s: the batcher reads a table's columns as they are: declare no computed columns or CHECK constraints", file, src.At, src.Name)
	case len(src.Schema) == 0:
		return nil, fmt.Errorf("%s:%s: table %s: declare the columns the query reads", file, src.At, src.Name)
	}
	j := &Job{File: file, Query: q, Source: strings.Trim(src.Options["path"], "/"), Sink: strings.Trim(q.Sink.Options["path"], "/")}
	if j.Source == "" || j.Sink == "" || j.Source == j.Sink {
		return nil, fmt.Errorf("%s: the table read (%q) and the sink (%q) must be two tables", file, j.Source, j.Sink)
	}
	for i, f := range src.Schema {
		if needed(script, src.Name, f.Name, q) {
			j.Read = append(j.Read, f)
			j.readIndex = append(j.readIndex, i)
		}
	}
	return j, nil
}

// needed reports whether query q of script reads column col of table
// table: whether the script, with the column left out of the CREATE
// TABLE, fails to compile or compiles to another output.
func needed(script *sql.Script, table, col string, q *plan.Query) bool {
	probe := &sql.Script{File: script.File, Statements: slices.Clone(script.Statements)}
	for i, st := range probe.Statements {
		cs, ok := st.(*sql.CreateSource)
		if !ok || !strings.EqualFold(cs.Name.Name, table) {
			continue
		}
		c := *cs
		c.Columns = slices.DeleteFunc(slices.Clone(cs.Columns), func(d *sql.ColumnDef) bool { return strings.EqualFold(d.Name.Name, col) })
		probe.Statements[i] = &c
	}
	p, err := plan.Compile(probe, plan.Batch)
	if err != nil || len(p.Queries) != 1 {
		return true
	}
	return p.Queries[0].Output.String() != q.Output.String()
}

// sourceBatch returns a batch of the source's declared schema whose read
// columns are cols (in Read's order); the columns the query does not read
// are all null.
func (j *Job) sourceBatch(cols []*types.Vector, n int, part []int32) *types.Batch {
	s := j.Query.Source.Schema
	b := &types.Batch{Schema: s, Cols: make([]*types.Vector, len(s)), N: n, Partition: part}
	for k, i := range j.readIndex {
		b.Cols[i] = cols[k]
	}
	for i, c := range b.Cols {
		if c == nil {
			v := types.NewVector(s[i].Type, n)
			for range n {
				v.AppendNull()
			}
			b.Cols[i] = v
		}
	}
	return b
}
