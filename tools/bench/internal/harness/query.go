package harness

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sensorlab/sensorlab/queries"
	"github.com/sensorlab/sensorlab/query/plan"
	qsql "github.com/sensorlab/sensorlab/query/sql"
)

// Edit is one change to a query file's text: Old, which must occur exactly
// N times, becomes New. A query file that no longer holds Old N times
// fails the edit, so a harness never runs a query other than the one it
// means to time.
type Edit struct {
	Old, New string
	N        int
}

// QueryFile is a query file of package queries, edited for a harness and
// written where the streamer reads it with --query.
type QueryFile struct {
	Path    string // the file written
	Text    string
	Program *plan.Program // the edited text, compiled for streaming
}

// WriteQuery reads name ("seed/streaming.sql", "examples/fraud.sql") from
// queries.FS, applies edits, compiles the result for streaming (so a
// broken edit fails here, not in the streamer) and writes it into dir.
func WriteQuery(dir, name string, edits ...Edit) (QueryFile, error) {
	b, err := fs.ReadFile(queries.FS, name)
	if err != nil {
		return QueryFile{}, fmt.Errorf("query file: %w", err)
	}
	text, err := EditQuery(name, string(b), edits...)
	if err != nil {
		return QueryFile{}, err
	}
	s, err := qsql.Parse(name, text)
	if err != nil {
		return QueryFile{}, fmt.Errorf("query file %s as edited: %w", name, err)
	}
	p, err := plan.Compile(s, plan.Streaming)
	if err != nil {
		return QueryFile{}, fmt.Errorf("query file %s as edited: %w", name, err)
	}
	path := filepath.Join(dir, filepath.Base(name))
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return QueryFile{}, fmt.Errorf("query file: %w", err)
	}
	return QueryFile{Path: path, Text: text, Program: p}, nil
}

// EditQuery applies edits to text (the query file name) in turn, and
// reports every edit whose Old text does not occur exactly N times.
func EditQuery(name, text string, edits ...Edit) (string, error) {
	var errs []error
	for _, e := range edits {
		if n := strings.Count(text, e.Old); n != e.N {
			errs = append(errs, fmt.Errorf("%q occurs %d times, the harness expects %d", e.Old, n, e.N))
			continue
		}
		text = strings.ReplaceAll(text, e.Old, e.New)
	}
	if err := errors.Join(errs...); err != nil {
		return "", fmt.Errorf("query file %s changed; update the harness's edits: %w", name, err)
	}
	return text, nil
}

// SourceTopic returns the topic the program's one Kafka source reads.
func (q QueryFile) SourceTopic() (string, error) {
	var topics []string
	for _, s := range q.Program.Sources {
		if s.Connector == "kafka" {
			topics = append(topics, s.Options["topic"])
		}
	}
	if len(topics) != 1 {
		return "", fmt.Errorf("query file %s: %d Kafka sources (%s), want one", q.Path, len(topics), strings.Join(topics, ", "))
	}
	return topics[0], nil
}

// Sink returns the query whose sink is name, or nil.
func (q QueryFile) Sink(name string) *plan.Query {
	for _, x := range q.Program.Queries {
		if strings.EqualFold(x.Name, name) {
			return x
		}
	}
	return nil
}
