// Package duck runs sensorlab's reference computations in DuckDB (embedded,
// through github.com/duckdb/duckdb-go/v2), so that the benchmarks compare the
// engine and the batcher with a well-known columnar engine on the same
// machine, the same files and the same run. DuckDB lives only in this module.
package duck

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" driver

	"github.com/sensorlab/sensorlab/contract"
)

// DB is one in-memory DuckDB database on one connection, so that settings
// such as threads apply to every query.
type DB struct {
	db      *sql.DB
	Threads int // 0: DuckDB's default (one per core)
}

// Open opens an in-memory database limited to threads threads (0: default).
func Open(threads int) (*DB, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	db.SetMaxOpenConns(1)
	if threads > 0 {
		if _, err := db.Exec(fmt.Sprintf("SET threads = %d", threads)); err != nil {
			db.Close()
			return nil, fmt.Errorf("duckdb: set threads: %w", err)
		}
	}
	return &DB{db: db, Threads: threads}, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// fileList is files as a DuckDB list literal, read_parquet's argument:
// ['a.parquet', 'b.parquet']. DuckDB here has no delta extension, so a
// Delta table is read as the list of its snapshot's live files (a glob
// over the directory would also read the files OPTIMIZE removed).
func fileList(files []string) string {
	q := make([]string, len(files))
	for i, f := range files {
		q[i] = quote(f)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// consolidationSQL is the batcher's consolidation (the seed's
// spark_batch_from_parquet.py) over the Parquet files src names.
func consolidationSQL(src string) string {
	return `SELECT sensor_id, sum(eventos)::BIGINT AS total_eventos, avg(avg_temp) AS avg_temp_global,
	avg(avg_hum) AS avg_hum_global, sum(ok_count)::BIGINT AS ok_total, count(*)::BIGINT AS ventanas
FROM read_parquet(` + src + `) GROUP BY sensor_id ORDER BY sensor_id`
}

// ConsolidateCold is Consolidate in a database opened for it and closed
// after it: DuckDB's cold start (a new database, empty caches), the
// in-process counterpart of a batcher process that runs once. The duration
// covers opening the database, the query and closing it.
func ConsolidateCold(ctx context.Context, threads int, files []string, out string) (time.Duration, error) {
	start := time.Now()
	d, err := Open(threads)
	if err != nil {
		return 0, err
	}
	if _, err := d.Consolidate(ctx, files, out); err != nil {
		d.Close()
		return 0, err
	}
	if err := d.Close(); err != nil {
		return 0, fmt.Errorf("duckdb: close: %w", err)
	}
	return time.Since(start), nil
}

// Consolidate computes the batcher's consolidation of the window files
// (local paths: a snapshot's live files) and writes it, as the batcher
// does, to a zstd Parquet file at out. It returns how long DuckDB took,
// building the query's file list included.
func (d *DB) Consolidate(ctx context.Context, files []string, out string) (time.Duration, error) {
	start := time.Now()
	q := "COPY (" + consolidationSQL(fileList(files)) + ") TO " + quote(out) + " (FORMAT parquet, COMPRESSION zstd)"
	if _, err := d.db.ExecContext(ctx, q); err != nil {
		return 0, fmt.Errorf("duckdb: consolidate %d files: %w", len(files), err)
	}
	return time.Since(start), nil
}

// ConsolidatedRows returns the consolidation of the window files, for
// comparing with the batcher's.
func (d *DB) ConsolidatedRows(ctx context.Context, files []string) ([]contract.BatchRow, error) {
	rows, err := d.db.QueryContext(ctx, consolidationSQL(fileList(files)))
	if err != nil {
		return nil, fmt.Errorf("duckdb: consolidate %d files: %w", len(files), err)
	}
	defer rows.Close()
	var out []contract.BatchRow
	for rows.Next() {
		var r contract.BatchRow
		if err := rows.Scan(&r.SensorID, &r.TotalEventos, &r.AvgTempGlobal, &r.AvgHumGlobal, &r.OKTotal, &r.Ventanas); err != nil {
			return nil, fmt.Errorf("duckdb: scan: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Windows is what WindowsFromNDJSON computed.
type Windows struct {
	Groups  int64 // (window, sensor) rows
	Eventos int64 // readings they hold
	Elapsed time.Duration
}

// WindowsFromNDJSON computes the engine's window rows (tumbling windows of
// windowMs, per sensor: count, avg temp and hum, ok count, min and max temp)
// from the readings of an NDJSON file, reading it with read_json and the
// event schema. Every reading is on time in the benchmark's data, so there
// is no watermark to apply. The rows are aggregated in DuckDB (only their
// count and total come back), so the figure is DuckDB's, not the driver's.
func (d *DB) WindowsFromNDJSON(ctx context.Context, path string, windowMs int64) (Windows, error) {
	q := fmt.Sprintf(`SELECT count(*), sum(eventos)::BIGINT FROM (
	SELECT ts - ts %% %[2]d AS win_start, sensor_id, count(*) AS eventos, avg(temp) AS avg_temp, avg(hum) AS avg_hum,
		count(*) FILTER (WHERE ok) AS ok_count, min(temp) AS min_temp, max(temp) AS max_temp
	FROM read_json(%[1]s, format = 'newline_delimited',
		columns = {sensor_id: 'VARCHAR', ts: 'BIGINT', temp: 'DOUBLE', hum: 'DOUBLE', ok: 'BOOLEAN'})
	GROUP BY ALL)`, quote(path), windowMs)
	start := time.Now()
	var w Windows
	if err := d.db.QueryRowContext(ctx, q).Scan(&w.Groups, &w.Eventos); err != nil {
		return w, fmt.Errorf("duckdb: windows of %s: %w", path, err)
	}
	w.Elapsed = time.Since(start)
	return w, nil
}

// Version returns DuckDB's version string.
func (d *DB) Version(ctx context.Context) (string, error) {
	var v string
	err := d.db.QueryRowContext(ctx, "SELECT version()").Scan(&v)
	return v, err
}
