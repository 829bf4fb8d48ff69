// Package config is the batcher's one typed configuration: defaults, then
// environment variables, then command-line flags. It is the only package of
// the batcher that reads the environment.
//
// Three commands share it: the batcher itself (one-shot, or every --interval),
// `batcher compact`, which merges the lake's small window files, and
// `batcher healthcheck`, which compose runs to probe /readyz.
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
	"strconv"
	"strings"
	"time"

	"github.com/sensorlab/sensorlab/lake"
)

// Command is what the binary was asked to do.
type Command string

// The batcher's commands.
const (
	CommandRun         Command = "run"
	CommandHealthcheck Command = "healthcheck"
	CommandCompact     Command = "compact"
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
	// HTTPAddr serves /healthz and /readyz, in interval mode only.
	HTTPAddr string
	// ReadConcurrency is how many window files are read at once.
	ReadConcurrency int
	// LogLevel is the minimum level logged.
	LogLevel slog.Level

	// Compact configures `batcher compact` (see package compact).
	Compact Compact

	// HealthURL is what `batcher healthcheck` GETs.
	HealthURL string
	// HealthTimeout bounds that request.
	HealthTimeout time.Duration
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

// Default returns the configuration before environment and flags.
func Default() Config {
	return Config{
		Command:         CommandRun,
		HTTPAddr:        ":8083",
		ReadConcurrency: 8,
		LogLevel:        slog.LevelInfo,
		HealthTimeout:   3 * time.Second,
		Compact:         Compact{TargetFileBytes: 128 << 20, MinFiles: 10, Grace: 30 * time.Second, LogCheckpointEvery: 100, LogRetention: true},
	}
}

// Load reads the process environment and args (os.Args[1:]).
func Load(args []string) (Config, error) { return Parse(args, os.LookupEnv) }

// Parse builds the configuration from args and an environment lookup, and
// validates it. All problems (bad environment values, bad flags, invalid
// settings) are reported in one error. -h prints usage and returns
// flag.ErrHelp.
func Parse(args []string, lookupEnv func(string) (string, bool)) (Config, error) {
	cfg := Default()
	var errs []error

	env := func(name string, set func(string) error) {
		if v, ok := lookupEnv(name); ok && v != "" {
			if err := set(v); err != nil {
				errs = append(errs, fmt.Errorf("env %s=%q: %w", name, v, err))
			}
		}
	}
	env("LAKE", setString(&cfg.Lake))
	env("S3_ENDPOINT", setString(&cfg.S3.Endpoint))
	env("S3_ACCESS_KEY", setString(&cfg.S3.AccessKey))
	env("S3_SECRET_KEY", setString(&cfg.S3.SecretKey))
	env("S3_USE_SSL", func(v string) error {
		b, err := strconv.ParseBool(v)
		cfg.S3.UseSSL = b
		return err
	})
	env("S3_REGION", setString(&cfg.S3.Region))
	env("INTERVAL", func(v string) error {
		d, err := time.ParseDuration(v)
		cfg.Interval = d
		return err
	})
	env("HTTP_ADDR", setString(&cfg.HTTPAddr))
	env("READ_CONCURRENCY", func(v string) error {
		n, err := strconv.Atoi(v)
		cfg.ReadConcurrency = n
		return err
	})
	env("LOG_LEVEL", func(v string) error { return cfg.LogLevel.UnmarshalText([]byte(v)) })
	env("COMPACT_TARGET_FILE_BYTES", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		cfg.Compact.TargetFileBytes = n
		return err
	})
	env("COMPACT_MIN_FILES", func(v string) error {
		n, err := strconv.Atoi(v)
		cfg.Compact.MinFiles = n
		return err
	})
	env("COMPACT_GRACE", func(v string) error {
		d, err := time.ParseDuration(v)
		cfg.Compact.Grace = d
		return err
	})
	env("COMPACT_LOG_CHECKPOINT_EVERY", func(v string) error {
		n, err := strconv.Atoi(v)
		cfg.Compact.LogCheckpointEvery = n
		return err
	})
	env("COMPACT_LOG_RETENTION", func(v string) error {
		b, err := strconv.ParseBool(v)
		cfg.Compact.LogRetention = b
		return err
	})

	if len(args) > 0 && (args[0] == string(CommandHealthcheck) || args[0] == string(CommandCompact)) {
		cfg.Command = Command(args[0])
		args = args[1:]
	}

	fs := flag.NewFlagSet("batcher", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var healthURL string
	if cfg.Command == CommandHealthcheck {
		fs.StringVar(&healthURL, "url", "", "URL to GET (default: /readyz on HTTP_ADDR's port at 127.0.0.1)")
		fs.DurationVar(&cfg.HealthTimeout, "timeout", cfg.HealthTimeout, "request timeout")
	} else if cfg.Command == CommandCompact {
		fs.StringVar(&cfg.Lake, "lake", cfg.Lake, "lake URL: s3://bucket[/prefix] or file:///abs/path (env LAKE)")
		fs.Int64Var(&cfg.Compact.TargetFileBytes, "target-file-bytes", cfg.Compact.TargetFileBytes, "size merged files aim at (env COMPACT_TARGET_FILE_BYTES)")
		fs.IntVar(&cfg.Compact.MinFiles, "min-files", cfg.Compact.MinFiles, "small files a partition needs to be compacted (env COMPACT_MIN_FILES)")
		fs.DurationVar(&cfg.Compact.Grace, "grace", cfg.Compact.Grace, "how long removed files stay for readers that listed the sink log before (env COMPACT_GRACE)")
		fs.IntVar(&cfg.Compact.LogCheckpointEvery, "log-checkpoint-every", cfg.Compact.LogCheckpointEvery, "write a sink-log checkpoint after a compaction, or once this many entries were written since the last one; 0 = never (env COMPACT_LOG_CHECKPOINT_EVERY)")
		fs.BoolVar(&cfg.Compact.LogRetention, "log-retention", cfg.Compact.LogRetention, "delete the sink-log entries a checkpoint older than --grace covers, but the newest of each query (env COMPACT_LOG_RETENTION)")
		fs.TextVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error (env LOG_LEVEL)")
	} else {
		fs.StringVar(&cfg.Lake, "lake", cfg.Lake, "lake URL: s3://bucket[/prefix] or file:///abs/path (env LAKE)")
		fs.DurationVar(&cfg.Interval, "interval", cfg.Interval, "repeat every interval until SIGTERM; 0 = run once (env INTERVAL)")
		fs.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, "address of /healthz, /readyz and /metrics, interval mode only (env HTTP_ADDR)")
		fs.IntVar(&cfg.ReadConcurrency, "read-concurrency", cfg.ReadConcurrency, "window files read at once (env READ_CONCURRENCY)")
		fs.TextVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error (env LOG_LEVEL)")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, &HelpError{Usage: Usage(fs)}
		}
		errs = append(errs, err)
	} else if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if cfg.Command == CommandHealthcheck {
		cfg.HealthURL = healthURL
		if cfg.HealthURL == "" {
			cfg.HealthURL = defaultHealthURL(cfg.HTTPAddr)
		}
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// HelpError is what Parse returns for -h: it matches flag.ErrHelp and its
// text is the usage.
type HelpError struct{ Usage string }

func (e *HelpError) Error() string { return e.Usage }

// Unwrap makes errors.Is(err, flag.ErrHelp) hold.
func (e *HelpError) Unwrap() error { return flag.ErrHelp }

// Usage describes the flags of fs, for -h.
func Usage(fs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString("usage: batcher [flags] | batcher compact [flags] | batcher healthcheck [--url URL]\n")
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return b.String()
}

func defaultHealthURL(httpAddr string) string {
	_, port, err := net.SplitHostPort(httpAddr)
	if err != nil || port == "" {
		port = "8083"
	}
	return "http://" + net.JoinHostPort("127.0.0.1", port) + "/readyz"
}

func setString(dst *string) func(string) error {
	return func(v string) error { *dst = v; return nil }
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Command == CommandHealthcheck {
		u, err := url.Parse(c.HealthURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("healthcheck --url %q: want an http(s) URL", c.HealthURL))
		}
		if c.HealthTimeout <= 0 {
			errs = append(errs, fmt.Errorf("healthcheck --timeout %v: must be positive", c.HealthTimeout))
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
	if c.Interval > 0 {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			errs = append(errs, fmt.Errorf("http %q: want host:port or :port: %w", c.HTTPAddr, err))
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
	if c.ReadConcurrency < 1 {
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
	interval := "once"
	if c.Interval > 0 {
		interval = c.Interval.String()
	}
	return slog.GroupValue(
		slog.String("lake", c.Lake),
		slog.String("s3_endpoint", c.S3.Endpoint),
		slog.String("s3_access_key", c.S3.AccessKey),
		slog.String("s3_secret_key", secret),
		slog.Bool("s3_use_ssl", c.S3.UseSSL),
		slog.String("s3_region", c.S3.Region),
		slog.String("interval", interval),
		slog.String("http_addr", c.HTTPAddr),
		slog.Int("read_concurrency", c.ReadConcurrency),
		slog.String("log_level", c.LogLevel.String()),
	)
}
