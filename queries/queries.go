// Package queries ships the repository's query files (queries/seed and
// queries/examples) inside the binaries that run them, so that each file
// stays the one source of its query: the streamer and the batcher embed
// them from here rather than holding copies.
package queries

import (
	"embed"
	"io/fs"
)

//go:embed seed/*.sql examples/*.sql
var files embed.FS

// FS holds the query files by their paths in this directory:
// "seed/batch.sql", "seed/streaming.sql", "examples/wordcount.sql", …
var FS fs.FS = files

// The seed lab's query files, by their paths in FS: the streaming job (the
// streamer's default) and the batch consolidation (the batcher's).
const (
	SeedStreaming = "seed/streaming.sql"
	SeedBatch     = "seed/batch.sql"
)
