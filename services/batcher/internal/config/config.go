// Package config is the batcher's one typed configuration: defaults, then
// environment variables, then command-line flags. It is the only package of
// the batcher that reads the environment. Every setting is one row of a vars
// table (flag, variable, default, meaning), read through package envflag: a
// variable set to the empty string counts as set (HTTP_ADDR= turns the HTTP
// server off). Parse reports every problem at once.
//
// Three commands share it: the batcher itself (one-shot, or every --interval),
// `batcher compact`, which merges the lake's small window files, and
// `batcher healthcheck`, which compose runs to probe /readyz. Each reads its
// own settings only.
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
	"strings"
	"time"

	"github.com/sensorlab/sensorlab/envflag"
	"github.com/sensorlab/sensorlab/lake"
)

// DefaultHTTPAddr is where /healthz, /readyz and /metrics listen by default
// (interval mode).
const DefaultHTTPAddr = ":8083"

// Command is what the binary was asked to do.
type Command string

// The batcher's commands.
const (
	CommandRun         Command = "run"         // `batcher [flags]`
	CommandHealthcheck Command = "healthcheck" // `batcher healthcheck [flags]`
	CommandCompact     Command = "compact"     // `batcher compact [flags]`
)

// Config is the batcher's whole configuration.
type Config struct {
	Command Command

	// Lake is the lake's URL: s3://bucket[/prefix] or file:///abs/path.
	Lake string
	// S3 configures the client of an s3:// lake.
	S3 lake.S3Config
	// Interval, when > 0, repeats the consolidation every Interval until
	// SIGTERM; 0 runs it once and exits.
	Interval time.Duration
	// HTTPAddr serves /healthz, /readyz and /metrics, in interval mode
	// only; empty disables the server.
	HTTPAddr string
	// ReadConcurrency is how many window files are read at once.
	ReadConcurrency int
	// LogLevel is the minimum level logged.
	LogLevel slog.Level

	// Compact configures `batcher compact` (see package compact).
	Compact Compact

	// Healthcheck configures `batcher healthcheck`.
	Healthcheck Healthcheck
}

// Compact is the configuration of `batcher compact`.
type Compact struct {
	// TargetFileBytes is the size merged files aim at; files of half of it
	// or more are left alone.
	TargetFileBytes int64
	// MinFiles is how many small files a partition needs to be compacted.
	MinFiles int
	// Grace is how long removed files are kept for readers that listed the
	// sink log before the change: longer than the batcher's longest run.
	Grace time.Duration
	// LogCheckpointEvery: a run writes a sink-log checkpoint when it changed
	// the table or at least this many entries were written since the last
	// one; 0 never writes one.
	LogCheckpointEvery int
	// LogRetention: after its checkpoint step, a run deletes the sink-log
	// entries covered by a checkpoint older than Grace, except the newest
	// entry of each query.
	LogRetention bool
}

// Healthcheck configures the healthcheck command: GET URL, within Timeout.
type Healthcheck struct {
	URL     string
	Timeout time.Duration
}

// Default returns the configuration before environment and flags.
func Default() Config {
	return Config{
		Command:         CommandRun,
		HTTPAddr:        DefaultHTTPAddr,
		ReadConcurrency: 8,
		LogLevel:        slog.LevelInfo,
		Compact:         Compact{TargetFileBytes: 128 << 20, MinFiles: 10, Grace: 30 * time.Second, LogCheckpointEvery: 100, LogRetention: true},
		Healthcheck:     Healthcheck{Timeout: 3 * time.Second},
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
	switch c.Command {
	case CommandHealthcheck:
		return []envflag.Var{
			{Env: "HTTP_ADDR", Default: DefaultHTTPAddr, Usage: "the batcher's HTTP address; the default --url uses its port", Value: envflag.String(&c.HTTPAddr)},
			{Flag: "url", Default: "http://127.0.0.1:<port of HTTP_ADDR>/readyz", Usage: "URL to GET; exit 0 on a 2xx answer, 1 otherwise", Value: envflag.String(&c.Healthcheck.URL)},
			{Flag: "timeout", Default: "3s", Usage: "request timeout", Value: envflag.Duration(&c.Healthcheck.Timeout)},
		}
	case CommandCompact:
		return append([]envflag.Var{
			lakeVar,
			{Flag: "target-file-bytes", Env: "COMPACT_TARGET_FILE_BYTES", Default: "134217728", Usage: "size merged files aim at; files of half of it or more are left alone", Value: envflag.Int64(&c.Compact.TargetFileBytes)},
			{Flag: "min-files", Env: "COMPACT_MIN_FILES", Default: "10", Usage: "small files a partition needs before it is compacted", Value: envflag.Int(&c.Compact.MinFiles)},
			{Flag: "grace", Env: "COMPACT_GRACE", Default: "30s", Usage: "how long removed files stay for readers that listed the sink log before", Value: envflag.Duration(&c.Compact.Grace)},
			{Flag: "log-checkpoint-every", Env: "COMPACT_LOG_CHECKPOINT_EVERY", Default: "100", Usage: "write a sink-log checkpoint after a compaction, or once this many entries were written since the last one; 0 = never", Value: envflag.Int(&c.Compact.LogCheckpointEvery)},
			{Flag: "log-retention", Env: "COMPACT_LOG_RETENTION", Default: "true", Usage: "delete the sink-log entries a checkpoint older than --grace covers, but the newest of each query", Value: envflag.Bool(&c.Compact.LogRetention)},
			logLevel,
		}, s3...)
	}
	return append([]envflag.Var{
		lakeVar,
		{Flag: "interval", Env: "INTERVAL", Default: "0", Usage: "repeat every interval until SIGTERM; 0 = run once and exit", Value: envflag.Duration(&c.Interval)},
		{Flag: "http", Env: "HTTP_ADDR", Default: DefaultHTTPAddr, Usage: "address of /healthz, /readyz and /metrics, served in interval mode; empty disables", Value: envflag.String(&c.HTTPAddr)},
		{Flag: "read-concurrency", Env: "READ_CONCURRENCY", Default: "8", Usage: "window files read at once", Value: envflag.Int(&c.ReadConcurrency)},
		logLevel,
	}, s3...)
}

// Load reads the process environment and args (os.Args[1:]). It returns
// flag.ErrHelp when args ask for help (after printing usage to stderr).
func Load(args []string) (Config, error) { return Parse(args, os.LookupEnv, os.Stderr) }

// Parse builds the configuration from args and an environment lookup, and
// validates it. All problems (bad environment values, bad flags, invalid
// settings) are reported in one error. A first argument `healthcheck` or
// `compact` selects that command and its settings.
func Parse(args []string, lookupEnv func(string) (string, bool), usage io.Writer) (Config, error) {
	cfg := Default()
	name := "batcher"
	if len(args) > 0 && (args[0] == string(CommandHealthcheck) || args[0] == string(CommandCompact)) {
		cfg.Command, args = Command(args[0]), args[1:]
		name += " " + string(cfg.Command)
	}
	err := envflag.Parse(name, cfg.vars(), args, lookupEnv, usage)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, err
	}
	if cfg.Command == CommandHealthcheck && cfg.Healthcheck.URL == "" {
		cfg.Healthcheck.URL = readyzURL(cfg.HTTPAddr)
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

	switch u, err := url.Parse(c.Lake); {
	case c.Lake == "":
		errs = append(errs, errors.New("lake: required (--lake or LAKE), e.g. s3://lake or file:///abs/path"))
	case err != nil:
		errs = append(errs, fmt.Errorf("lake %q: %w", c.Lake, err))
	case u.Scheme == "file":
		if !strings.HasPrefix(u.Path, "/") || (u.Host != "" && u.Host != "localhost") {
			errs = append(errs, fmt.Errorf("lake %q: a file URL needs an absolute path, file:///abs/path", c.Lake))
		}
	case u.Scheme == "s3":
		if u.Host == "" {
			errs = append(errs, fmt.Errorf("lake %q: missing bucket, want s3://bucket[/prefix]", c.Lake))
		}
		if c.S3.Endpoint == "" {
			errs = append(errs, errors.New("S3_ENDPOINT: required for an s3:// lake (host:port)"))
		}
		if c.S3.AccessKey == "" {
			errs = append(errs, errors.New("S3_ACCESS_KEY: required for an s3:// lake"))
		}
		if c.S3.SecretKey == "" {
			errs = append(errs, errors.New("S3_SECRET_KEY: required for an s3:// lake"))
		}
	default:
		errs = append(errs, fmt.Errorf("lake %q: unknown scheme %q, want s3 or file", c.Lake, u.Scheme))
	}
	if c.Interval < 0 {
		errs = append(errs, fmt.Errorf("interval %v: must be 0 (run once) or positive", c.Interval))
	}
	if c.Command == CommandRun && c.Interval > 0 && c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			errs = append(errs, fmt.Errorf("http %q: want host:port or :port, or empty to disable: %w", c.HTTPAddr, err))
		}
	}
	if c.Command == CommandCompact {
		if c.Compact.TargetFileBytes <= 0 {
			errs = append(errs, fmt.Errorf("compact --target-file-bytes %d: must be > 0", c.Compact.TargetFileBytes))
		}
		if c.Compact.MinFiles < 2 {
			errs = append(errs, fmt.Errorf("compact --min-files %d: must be at least 2", c.Compact.MinFiles))
		}
		if c.Compact.Grace < 0 {
			errs = append(errs, fmt.Errorf("compact --grace %v: must be >= 0", c.Compact.Grace))
		}
		if c.Compact.LogCheckpointEvery < 0 {
			errs = append(errs, fmt.Errorf("compact --log-checkpoint-every %d: must be >= 0 (0 = never)", c.Compact.LogCheckpointEvery))
		}
	}
	if c.Command == CommandRun && c.ReadConcurrency < 1 {
		errs = append(errs, fmt.Errorf("read-concurrency %d: must be at least 1", c.ReadConcurrency))
	}
	return errors.Join(errs...)
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
	if c.Command == CommandCompact {
		attrs = append(attrs,
			slog.Int64("target_file_bytes", c.Compact.TargetFileBytes),
			slog.Int("min_files", c.Compact.MinFiles),
			slog.String("grace", c.Compact.Grace.String()),
			slog.Int("log_checkpoint_every", c.Compact.LogCheckpointEvery),
			slog.Bool("log_retention", c.Compact.LogRetention))
	} else {
		interval := "once"
		if c.Interval > 0 {
			interval = c.Interval.String()
		}
		attrs = append(attrs,
			slog.String("interval", interval),
			slog.String("http", c.HTTPAddr),
			slog.Int("read_concurrency", c.ReadConcurrency))
	}
	return slog.GroupValue(append(attrs, slog.String("log_level", c.LogLevel.String()))...)
}
