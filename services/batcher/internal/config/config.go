// Package config is the batcher's one typed configuration: defaults, then
// environment variables, then command-line flags. It is the only package of
// the batcher that reads the environment. Every setting is one row of a vars
// table (flag, variable, default, meaning), read through package envflag: a
// variable set to the empty string counts as set (HTTP_ADDR= turns the HTTP
// server off). Parse reports every problem at once.
//
// Each command has its own table and reads its own settings only: the
// batcher itself (one-shot, or every --interval), the Delta maintenance
// commands `batcher optimize`, `batcher vacuum`, `batcher history` and
// `batcher detail`, and `batcher healthcheck`, which compose runs to probe
// /readyz.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/sensorlab/sensorlab/envflag"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
)

// DefaultHTTPAddr is where /healthz, /readyz and /metrics listen by default
// (interval mode).
const DefaultHTTPAddr = ":8083"

// DefaultTable is the table the maintenance commands work on by default:
// the lake's stream table.
const DefaultTable = "stream"

// Command is what the binary was asked to do.
type Command string

// The batcher's commands.
const (
	CommandRun         Command = "run"         // `batcher [flags]`
	CommandHealthcheck Command = "healthcheck" // `batcher healthcheck [flags]`
	CommandOptimize    Command = "optimize"    // `batcher optimize [flags]`
	CommandVacuum      Command = "vacuum"      // `batcher vacuum [flags]`
	CommandHistory     Command = "history"     // `batcher history [flags]`
	CommandDetail      Command = "detail"      // `batcher detail [flags]`
)

// Commands are the commands a first argument selects (the run is the
// default, selected by none).
var Commands = []Command{CommandHealthcheck, CommandOptimize, CommandVacuum, CommandHistory, CommandDetail}

// Config is the batcher's whole configuration.
type Config struct {
	Command Command

	// Lake is the lake's URL: s3://bucket[/prefix] or file:///abs/path.
	Lake string
	// S3 configures the client of an s3:// lake (and of an s3:// --table).
	S3 lake.S3Config
	// LogLevel is the minimum level logged.
	LogLevel slog.Level

	// Run configures the consolidation (the default command).
	Run Run

	// Table is the Delta table a maintenance command works on: a path
	// relative to the lake ("stream", "batch/agg_desde_stream") or a table
	// URL (s3://bucket/path, file:///abs/path), which needs no --lake.
	Table string
	// JSON prints history and detail as JSON instead of a text table.
	JSON bool
	// Optimize configures `batcher optimize`.
	Optimize Optimize
	// Vacuum configures `batcher vacuum`.
	Vacuum Vacuum
	// HistoryLimit is how many versions `batcher history` shows, newest
	// first; 0 shows every version the log still holds.
	HistoryLimit int

	// Healthcheck configures `batcher healthcheck`.
	Healthcheck Healthcheck
}

// Run is the configuration of the consolidation.
type Run struct {
	// Interval, when > 0, repeats the consolidation every Interval until
	// SIGTERM; 0 runs it once and exits.
	Interval time.Duration
	// HTTPAddr serves /healthz, /readyz and /metrics, in interval mode
	// only; empty disables the server.
	HTTPAddr string
	// ReadConcurrency is how many window files are read at once.
	ReadConcurrency int
	// AsOfVersion reads the query's table as of this version (time
	// travel); -1 reads the latest, or the query's VERSION AS OF /
	// TIMESTAMP AS OF, which must otherwise name the same snapshot.
	AsOfVersion int64
	// AsOfTimestamp reads the query's table as of this time, by Delta's
	// rules (the latest commit not after it); zero reads the latest (or
	// the query's own snapshot, as for AsOfVersion).
	AsOfTimestamp time.Time
	// SkipUnchanged, in interval mode, skips a run when the stream table's
	// version is the one the batch table's latest commit consolidated.
	SkipUnchanged bool
	// Query is the batch query file run; empty runs the seed's
	// consolidation (queries/seed/batch.sql, embedded).
	Query string
}

// Optimize is the configuration of `batcher optimize`.
type Optimize struct {
	// Where restricts the optimization to partitions, "date=2024-11-21";
	// empty optimizes every partition.
	Where string
	// TargetFileSize is the size bin-packed files aim at, in bytes.
	TargetFileSize int64
	// MinFiles is how many small files a partition needs to be rewritten.
	MinFiles int
}

// Vacuum is the configuration of `batcher vacuum`.
type Vacuum struct {
	// Retain is how long files a snapshot no longer needs are kept; nil
	// uses the table's delta.deletedFileRetentionDuration (7 days unless
	// the table sets it).
	Retain *time.Duration
	// Force allows a retention below the table's.
	Force bool
	// DryRun lists the files that would be deleted, and deletes none.
	DryRun bool
}

// Healthcheck configures the healthcheck command: GET URL, within Timeout.
type Healthcheck struct {
	URL     string
	Timeout time.Duration
}

// Default returns the configuration before environment and flags.
func Default() Config {
	return Config{
		Command:      CommandRun,
		LogLevel:     slog.LevelInfo,
		Run:          Run{HTTPAddr: DefaultHTTPAddr, ReadConcurrency: 8, AsOfVersion: -1, SkipUnchanged: true},
		Table:        DefaultTable,
		Optimize:     Optimize{TargetFileSize: delta.DefaultOptimizeTargetFileSize, MinFiles: 2},
		HistoryLimit: 0,
		Healthcheck:  Healthcheck{Timeout: 3 * time.Second},
	}
}

// vars binds the settings of c's Command to c, in documentation order.
func (c *Config) vars() []envflag.Var {
	lakeVar := envflag.Var{Flag: "lake", Env: "LAKE", Default: "(required)", Usage: "lake URL: s3://bucket[/prefix] or file:///abs/path", Value: envflag.String(&c.Lake)}
	logLevel := envflag.Var{Flag: "log-level", Env: "LOG_LEVEL", Default: "info", Usage: "debug, info, warn or error", Value: envflag.Level(&c.LogLevel)}
	s3 := []envflag.Var{
		{Env: "S3_ENDPOINT", Default: "(none)", Usage: "S3 endpoint, host:port; needed by an s3:// lake", Value: envflag.String(&c.S3.Endpoint)},
		{Env: "S3_ACCESS_KEY", Default: "(none)", Usage: "S3 access key; needed by an s3:// lake", Value: envflag.String(&c.S3.AccessKey)},
		{Env: "S3_SECRET_KEY", Default: "(none)", Usage: "S3 secret key; needed by an s3:// lake; logged as ****", Value: envflag.String(&c.S3.SecretKey)},
		{Env: "S3_USE_SSL", Default: "false", Usage: "HTTPS to the S3 endpoint", Value: envflag.Bool(&c.S3.UseSSL)},
		{Env: "S3_REGION", Default: "(none)", Usage: "S3 region; MinIO needs none", Value: envflag.String(&c.S3.Region)},
	}
	maintenance := func(own ...envflag.Var) []envflag.Var {
		vars := []envflag.Var{
			{Flag: "lake", Env: "LAKE", Default: "(required unless --table is a URL)", Usage: "lake URL: s3://bucket[/prefix] or file:///abs/path", Value: envflag.String(&c.Lake)},
			{Flag: "table", Default: DefaultTable, Usage: "Delta table: a path in the lake (stream, batch/agg_desde_stream) or a table URL (s3://bucket/path, file:///abs/path)", Value: envflag.String(&c.Table)},
		}
		vars = append(append(vars, own...), logLevel)
		return append(vars, s3...)
	}
	switch c.Command {
	case CommandHealthcheck:
		return []envflag.Var{
			{Env: "HTTP_ADDR", Default: DefaultHTTPAddr, Usage: "the batcher's HTTP address; the default --url uses its port", Value: envflag.String(&c.Run.HTTPAddr)},
			{Flag: "url", Default: "http://127.0.0.1:<port of HTTP_ADDR>/readyz", Usage: "URL to GET; exit 0 on a 2xx answer, 1 otherwise", Value: envflag.String(&c.Healthcheck.URL)},
			{Flag: "timeout", Default: "3s", Usage: "request timeout", Value: envflag.Duration(&c.Healthcheck.Timeout)},
		}
	case CommandOptimize:
		return maintenance(
			envflag.Var{Flag: "where", Default: "(every partition)", Usage: `partition filter: "date=2024-11-21", "date >= '2024-11-01' AND date < '2024-12-01'"`, Value: envflag.String(&c.Optimize.Where)},
			envflag.Var{Flag: "target-file-size", Env: "OPTIMIZE_TARGET_FILE_SIZE", Default: "134217728", Usage: "size in bytes the bin-packed files aim at", Value: envflag.Int64(&c.Optimize.TargetFileSize)},
			envflag.Var{Flag: "min-files", Env: "OPTIMIZE_MIN_FILES", Default: "2", Usage: "small files a partition needs before it is rewritten", Value: envflag.Int(&c.Optimize.MinFiles)},
		)
	case CommandVacuum:
		return maintenance(
			envflag.Var{Flag: "retain", Env: "VACUUM_RETAIN", Default: "(the table's delta.deletedFileRetentionDuration: 168h unless set)", Usage: "keep files a snapshot within this long still needs; below the table's retention needs --force", Value: optionalDuration(&c.Vacuum.Retain)},
			envflag.Var{Flag: "force", Default: "false", Usage: "allow a retention below the table's (Delta's retentionDurationCheck off)", Value: envflag.Bool(&c.Vacuum.Force)},
			envflag.Var{Flag: "dry-run", Default: "false", Usage: "list the files that would be deleted, delete none", Value: envflag.Bool(&c.Vacuum.DryRun)},
		)
	case CommandHistory:
		return maintenance(
			envflag.Var{Flag: "limit", Default: "0", Usage: "newest versions shown; 0 = every version the log holds", Value: envflag.Int(&c.HistoryLimit)},
			envflag.Var{Flag: "json", Default: "false", Usage: "one JSON object per version (JSON lines) instead of a table", Value: envflag.Bool(&c.JSON)},
		)
	case CommandDetail:
		return maintenance(
			envflag.Var{Flag: "json", Default: "false", Usage: "one JSON object instead of a table", Value: envflag.Bool(&c.JSON)},
		)
	}
	return append([]envflag.Var{
		lakeVar,
		{Flag: "interval", Env: "INTERVAL", Default: "0", Usage: "repeat every interval until SIGTERM; 0 = run once and exit", Value: envflag.Duration(&c.Run.Interval)},
		{Flag: "http", Env: "HTTP_ADDR", Default: DefaultHTTPAddr, Usage: "address of /healthz, /readyz and /metrics, served in interval mode; empty disables", Value: envflag.String(&c.Run.HTTPAddr)},
		{Flag: "read-concurrency", Env: "READ_CONCURRENCY", Default: "8", Usage: "window files read at once", Value: envflag.Int(&c.Run.ReadConcurrency)},
		{Flag: "skip-unchanged", Env: "SKIP_UNCHANGED", Default: "true", Usage: "in interval mode, write nothing when the stream table has not changed since the batch table's last commit", Value: envflag.Bool(&c.Run.SkipUnchanged)},
		{Flag: "as-of-version", Env: "AS_OF_VERSION", Default: "(latest)", Usage: "read the table the query reads as of this version (time travel, as the query's VERSION AS OF n; if the query names a snapshot too, the same one); one-shot runs only", Value: asOfVersion(&c.Run.AsOfVersion)},
		{Flag: "query", Env: "QUERY", Default: "(the seed's)", Usage: "batch query file to run (CREATE TABLE … CREATE SINK … AS SELECT, FROM t [VERSION AS OF n | TIMESTAMP AS OF '…']); default: the seed's consolidation, queries/seed/batch.sql", Value: envflag.String(&c.Run.Query)},
		{Flag: "as-of-timestamp", Env: "AS_OF_TIMESTAMP", Default: "(latest)", Usage: "read the table the query reads as of this time (as the query's TIMESTAMP AS OF; if the query names a snapshot too, the same one), RFC 3339 or a date (UTC midnight); one-shot runs only", Value: asOfTimestamp(&c.Run.AsOfTimestamp)},
		logLevel,
	}, s3...)
}

// optionalDuration binds p to a duration; unset leaves it nil.
func optionalDuration(p **time.Duration) flag.Value {
	return envflag.Func(func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*p = &d
		return nil
	}, func() string {
		if *p == nil {
			return ""
		}
		return (*p).String()
	})
}

// asOfVersion binds p to a table version (>= 0).
func asOfVersion(p *int64) flag.Value {
	return envflag.Func(func(s string) error {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			return fmt.Errorf("want a table version, an integer >= 0")
		}
		*p = v
		return nil
	}, func() string {
		if *p < 0 {
			return ""
		}
		return strconv.FormatInt(*p, 10)
	})
}

// asOfTimestamp binds p to a time: RFC 3339 ("2024-11-21T10:00:00Z", with
// or without fractional seconds) or a date ("2024-11-21", midnight UTC), as
// Spark's TIMESTAMP AS OF takes them.
func asOfTimestamp(p *time.Time) flag.Value {
	return envflag.Func(func(s string) error {
		t, err := ParseTimestamp(s)
		if err != nil {
			return err
		}
		*p = t
		return nil
	}, func() string {
		if p.IsZero() {
			return ""
		}
		return p.Format(time.RFC3339Nano)
	})
}

// ParseTimestamp reads an --as-of-timestamp: RFC 3339 or a date (midnight
// UTC).
func ParseTimestamp(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("want RFC 3339 (2024-11-21T10:00:00Z) or a date (2024-11-21)")
}

// Load reads the process environment and args (os.Args[1:]). It returns
// flag.ErrHelp when args ask for help (after printing usage to stderr).
func Load(args []string) (Config, error) { return Parse(args, os.LookupEnv, os.Stderr) }

// Parse builds the configuration from args and an environment lookup, and
// validates it. All problems (bad environment values, bad flags, invalid
// settings) are reported in one error. A first argument naming one of
// Commands selects that command and its settings.
func Parse(args []string, lookupEnv func(string) (string, bool), usage io.Writer) (Config, error) {
	cfg := Default()
	name := "batcher"
	if len(args) > 0 {
		for _, cmd := range Commands {
			if args[0] == string(cmd) {
				cfg.Command, args = cmd, args[1:]
				name += " " + string(cmd)
				break
			}
		}
	}
	err := envflag.Parse(name, cfg.vars(), args, lookupEnv, usage)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, err
	}
	if cfg.Command == CommandHealthcheck && cfg.Healthcheck.URL == "" {
		cfg.Healthcheck.URL = readyzURL(cfg.Run.HTTPAddr)
	}
	return cfg, errors.Join(err, cfg.Validate())
}

// readyzURL is /readyz on the port of addr at 127.0.0.1, where the service
// is reached from its own container. An address without a port (empty: the
// HTTP server is off) gives "", which Validate rejects: there is nothing to
// probe unless --url says where.
func readyzURL(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return ""
	}
	return "http://" + net.JoinHostPort("127.0.0.1", port) + "/readyz"
}

// IsMaintenance reports whether the command works on one Delta table
// (--table): optimize, vacuum, history, detail.
func (c Config) IsMaintenance() bool {
	switch c.Command {
	case CommandOptimize, CommandVacuum, CommandHistory, CommandDetail:
		return true
	}
	return false
}

// TableIsURL reports whether --table names a table by URL (scheme://...)
// rather than by a path in the lake.
func (c Config) TableIsURL() bool { return strings.Contains(c.Table, "://") }

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Command == CommandHealthcheck {
		u, err := url.Parse(c.Healthcheck.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("healthcheck --url %q: want an http(s) URL", c.Healthcheck.URL))
		}
		if c.Healthcheck.Timeout <= 0 {
			errs = append(errs, fmt.Errorf("healthcheck --timeout %v: must be positive", c.Healthcheck.Timeout))
		}
		return errors.Join(errs...)
	}

	if c.IsMaintenance() {
		if c.TableIsURL() {
			errs = append(errs, checkStoreURL("table", c.Table, c.S3)...)
		} else {
			if err := checkTablePath(c.Table); err != nil {
				errs = append(errs, err)
			}
			if c.Lake == "" {
				errs = append(errs, fmt.Errorf("lake: required (--lake or LAKE) for --table %q, a path in the lake; or give --table as a URL", c.Table))
			}
		}
		if c.Lake != "" {
			errs = append(errs, checkStoreURL("lake", c.Lake, c.S3)...)
		}
	} else {
		if c.Lake == "" {
			errs = append(errs, errors.New("lake: required (--lake or LAKE), e.g. s3://lake or file:///abs/path"))
		} else {
			errs = append(errs, checkStoreURL("lake", c.Lake, c.S3)...)
		}
	}

	switch c.Command {
	case CommandRun:
		r := c.Run
		if r.Interval < 0 {
			errs = append(errs, fmt.Errorf("interval %v: must be 0 (run once) or positive", r.Interval))
		}
		if r.Interval > 0 && r.HTTPAddr != "" {
			if _, _, err := net.SplitHostPort(r.HTTPAddr); err != nil {
				errs = append(errs, fmt.Errorf("http %q: want host:port or :port, or empty to disable: %w", r.HTTPAddr, err))
			}
		}
		if r.ReadConcurrency < 1 {
			errs = append(errs, fmt.Errorf("read-concurrency %d: must be at least 1", r.ReadConcurrency))
		}
		if r.AsOfVersion >= 0 && !r.AsOfTimestamp.IsZero() {
			errs = append(errs, errors.New("as-of-version and as-of-timestamp: give one, not both"))
		}
		if r.Interval > 0 && (r.AsOfVersion >= 0 || !r.AsOfTimestamp.IsZero()) {
			errs = append(errs, errors.New("as-of-version/as-of-timestamp with interval: time travel reads one fixed version; run it once (interval 0)"))
		}
	case CommandOptimize:
		if c.Optimize.TargetFileSize <= 0 {
			errs = append(errs, fmt.Errorf("optimize --target-file-size %d: must be > 0", c.Optimize.TargetFileSize))
		}
		if c.Optimize.MinFiles < 2 {
			errs = append(errs, fmt.Errorf("optimize --min-files %d: must be at least 2", c.Optimize.MinFiles))
		}
	case CommandVacuum:
		if c.Vacuum.Retain != nil && *c.Vacuum.Retain < 0 {
			errs = append(errs, fmt.Errorf("vacuum --retain %v: must be >= 0", *c.Vacuum.Retain))
		}
	case CommandHistory:
		if c.HistoryLimit < 0 {
			errs = append(errs, fmt.Errorf("history --limit %d: must be >= 0 (0 = all)", c.HistoryLimit))
		}
	}
	return errors.Join(errs...)
}

// checkStoreURL checks a store URL (the lake's, or a table's) and the S3
// settings an s3:// one needs.
func checkStoreURL(name, raw string, s3 lake.S3Config) []error {
	var errs []error
	switch u, err := url.Parse(raw); {
	case err != nil:
		errs = append(errs, fmt.Errorf("%s %q: %w", name, raw, err))
	case u.Scheme == "file":
		if !strings.HasPrefix(u.Path, "/") || (u.Host != "" && u.Host != "localhost") {
			errs = append(errs, fmt.Errorf("%s %q: a file URL needs an absolute path, file:///abs/path", name, raw))
		}
	case u.Scheme == "s3":
		if u.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q: missing bucket, want s3://bucket[/prefix]", name, raw))
		}
		if s3.Endpoint == "" {
			errs = append(errs, fmt.Errorf("S3_ENDPOINT: required for an s3:// %s (host:port)", name))
		}
		if s3.AccessKey == "" {
			errs = append(errs, fmt.Errorf("S3_ACCESS_KEY: required for an s3:// %s", name))
		}
		if s3.SecretKey == "" {
			errs = append(errs, fmt.Errorf("S3_SECRET_KEY: required for an s3:// %s", name))
		}
	default:
		errs = append(errs, fmt.Errorf("%s %q: unknown scheme %q, want s3 or file", name, raw, u.Scheme))
	}
	return errs
}

// checkTablePath checks a table path relative to the lake: "/"-separated,
// clean, not empty, not leaving the lake.
func checkTablePath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "." || p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("table %q: want a path in the lake such as stream or batch/agg_desde_stream, or a table URL", p)
	}
	return nil
}

// LogValue is the effective configuration as logged at start: the S3 secret
// is masked, the access key kept (it names the account, it grants nothing).
func (c Config) LogValue() slog.Value {
	secret := ""
	if c.S3.SecretKey != "" {
		secret = "****"
	}
	attrs := []slog.Attr{
		slog.String("command", string(c.Command)),
		slog.String("lake", c.Lake),
		slog.String("s3_endpoint", c.S3.Endpoint),
		slog.String("s3_access_key", c.S3.AccessKey),
		slog.String("s3_secret_key", secret),
		slog.Bool("s3_use_ssl", c.S3.UseSSL),
		slog.String("s3_region", c.S3.Region),
	}
	if c.IsMaintenance() {
		attrs = append(attrs, slog.String("table", c.Table))
	}
	switch c.Command {
	case CommandOptimize:
		attrs = append(attrs,
			slog.String("where", c.Optimize.Where),
			slog.Int64("target_file_size", c.Optimize.TargetFileSize),
			slog.Int("min_files", c.Optimize.MinFiles))
	case CommandVacuum:
		retain := "table"
		if c.Vacuum.Retain != nil {
			retain = c.Vacuum.Retain.String()
		}
		attrs = append(attrs, slog.String("retain", retain), slog.Bool("force", c.Vacuum.Force), slog.Bool("dry_run", c.Vacuum.DryRun))
	case CommandHistory:
		attrs = append(attrs, slog.Int("limit", c.HistoryLimit), slog.Bool("json", c.JSON))
	case CommandDetail:
		attrs = append(attrs, slog.Bool("json", c.JSON))
	case CommandRun:
		interval := "once"
		if c.Run.Interval > 0 {
			interval = c.Run.Interval.String()
		}
		attrs = append(attrs,
			slog.String("interval", interval),
			slog.String("http", c.Run.HTTPAddr),
			slog.Int("read_concurrency", c.Run.ReadConcurrency),
			slog.Bool("skip_unchanged", c.Run.SkipUnchanged))
		if c.Run.Query != "" {
			attrs = append(attrs, slog.String("query", c.Run.Query))
		}
		if c.Run.AsOfVersion >= 0 {
			attrs = append(attrs, slog.Int64("as_of_version", c.Run.AsOfVersion))
		}
		if !c.Run.AsOfTimestamp.IsZero() {
			attrs = append(attrs, slog.String("as_of_timestamp", c.Run.AsOfTimestamp.Format(time.RFC3339Nano)))
		}
	}
	return slog.GroupValue(append(attrs, slog.String("log_level", c.LogLevel.String()))...)
}
