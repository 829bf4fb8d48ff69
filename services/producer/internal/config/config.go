// Package config holds the producer's one typed Config: defaults, then the
// environment, then command-line flags, in that order of precedence.
//
// It is the only package of the producer that reads the environment. Every
// option has a flag and an environment variable (see Options, which the README's
// table mirrors), and Validate reports every problem at once.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sensorlab/sensorlab/contract"
)

// MaxSensors is the largest --sensors: ids are S001..S999.
const MaxSensors = 999

// Config is the producer's whole configuration.
type Config struct {
	// Brokers are the Kafka seed brokers (host:port).
	Brokers []string
	// Topic receives the readings; Partitions is used when the producer creates it.
	Topic      string
	Partitions int
	// Rate is the target in records per second; 0 means as fast as possible.
	Rate float64
	// Count is how many records to send before flushing and exiting; 0 means until stopped.
	Count int64
	// Sensors is how many sensors take turns: S001..S<Sensors>.
	Sensors int
	// Seed seeds the generator. SeedSet is false when no seed was given, in
	// which case the producer draws one and logs it.
	Seed    uint64
	SeedSet bool
	// StartTime is the event-time origin. Zero means "now": readings are
	// stamped with the wall clock at generation.
	StartTime time.Time
	// Step is the event-time spacing of consecutive records on a fixed schedule.
	Step time.Duration
	// Backfill, with StartTime zero, first emits (as fast as possible) the
	// records of the Backfill before start, spaced by Step.
	Backfill time.Duration
	// Fault injection.
	LateFraction      float64
	LateBy            time.Duration
	DuplicateFraction float64
	InvalidFraction   float64
	// Progress is the interval of the progress log line.
	Progress time.Duration
	// HTTPAddr serves /healthz, /readyz and /metrics; empty disables the server.
	HTTPAddr string
	// MaxBufferedRecords bounds the records held in memory while the broker is slow or away.
	MaxBufferedRecords int
	// ShutdownTimeout bounds the flush after a stop signal; what is still
	// unacknowledged then is failed and counted as errors.
	ShutdownTimeout time.Duration
	// LogLevel is the minimum level logged.
	LogLevel slog.Level
}

// Default returns the configuration used when neither environment nor flags say otherwise.
func Default() Config {
	return Config{
		Brokers:            []string{"localhost:9092"},
		Topic:              contract.EventsTopic,
		Partitions:         contract.EventsPartitions,
		Rate:               5,
		Sensors:            20,
		Step:               200 * time.Millisecond,
		LateBy:             90 * time.Second,
		Progress:           10 * time.Second,
		HTTPAddr:           ":8081",
		MaxBufferedRecords: 10000,
		ShutdownTimeout:    7 * time.Second,
		LogLevel:           slog.LevelInfo,
	}
}

// Option documents one setting: its flag, its environment variable, its
// default as text and what it means. The README's table lists the same rows.
type Option struct {
	Flag, Env, Default, Usage string
	value                     flag.Value
}

// Options returns every option bound to c, in documentation order.
func (c *Config) Options() []Option {
	return []Option{
		{"brokers", "KAFKA_BROKERS", "localhost:9092", "comma-separated Kafka seed brokers (host:port)", listVal{&c.Brokers}},
		{"topic", "TOPIC", contract.EventsTopic, "topic the readings go to", strVal{&c.Topic}},
		{"partitions", "PARTITIONS", strconv.Itoa(contract.EventsPartitions), "partitions when the producer creates the topic (replication 1)", intVal{&c.Partitions}},
		{"rate", "RATE", "5", "records per second; 0 = as fast as possible", floatVal{&c.Rate}},
		{"count", "COUNT", "0", "records to send, then flush and exit 0; 0 = until stopped", int64Val{&c.Count}},
		{"sensors", "SENSORS", "20", "number of sensors, ids S001.. (1-999)", intVal{&c.Sensors}},
		{"seed", "SEED", "random (logged)", "generator seed; same seed and flags give a byte-identical record sequence", seedVal{&c.Seed, &c.SeedSet}},
		{"start-time", "START_TIME", "now", "event-time origin, RFC3339 or epoch ms; when set, ts of record i = start + i*step", timeVal{&c.StartTime}},
		{"step", "STEP", "200ms", "event-time spacing between consecutive records on the fixed schedule", durVal{&c.Step}},
		{"backfill", "BACKFILL", "0", "with origin now: first emit, as fast as possible, the records of this span before start", durVal{&c.Backfill}},
		{"late-fraction", "LATE_FRACTION", "0", "fraction of readings whose ts lags by --late-by", floatVal{&c.LateFraction}},
		{"late-by", "LATE_BY", "1m30s", "how far a late reading's ts lags", durVal{&c.LateBy}},
		{"duplicate-fraction", "DUPLICATE_FRACTION", "0", "fraction of readings sent twice (same key and value)", floatVal{&c.DuplicateFraction}},
		{"invalid-fraction", "INVALID_FRACTION", "0", "fraction of records replaced by a malformed one (each rejected by contract.DecodeEvent)", floatVal{&c.InvalidFraction}},
		{"progress", "PROGRESS", "10s", "interval of the progress log line", durVal{&c.Progress}},
		{"http", "HTTP_ADDR", ":8081", "address of /healthz, /readyz and /metrics; empty disables", strVal{&c.HTTPAddr}},
		{"max-buffered-records", "MAX_BUFFERED_RECORDS", "10000", "records buffered while the broker is slow or away; producing blocks beyond", intVal{&c.MaxBufferedRecords}},
		{"shutdown-timeout", "SHUTDOWN_TIMEOUT", "7s", "bound on the flush after SIGTERM/SIGINT; unacknowledged records are then counted as errors", durVal{&c.ShutdownTimeout}},
		{"log-level", "LOG_LEVEL", "info", "debug, info, warn or error", levelVal{&c.LogLevel}},
	}
}

// Load builds the Config from defaults, the process environment and args
// (without the program name), then validates it. It returns flag.ErrHelp
// when args ask for help (after printing usage to stderr).
func Load(args []string) (Config, error) {
	return Parse(args, os.LookupEnv, os.Stderr)
}

// Parse is Load with the environment lookup and the usage output injected.
func Parse(args []string, lookupEnv func(string) (string, bool), usage io.Writer) (Config, error) {
	cfg := Default()
	opts := cfg.Options()
	var errs []error
	for _, o := range opts {
		if v, ok := lookupEnv(o.Env); ok {
			if err := o.value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("env %s=%q: %w", o.Env, v, err))
			}
		}
	}
	fs := flag.NewFlagSet("producer", flag.ContinueOnError)
	fs.SetOutput(usage)
	for _, o := range opts {
		fs.Var(o.value, o.Flag, fmt.Sprintf("%s (env %s, default %s)", o.Usage, o.Env, o.Default))
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		errs = append(errs, err)
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Brokers) == 0 {
		bad("brokers: at least one is required")
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			bad("brokers: %q is not host:port", b)
		}
	}
	if c.Topic == "" {
		bad("topic: must not be empty")
	}
	if c.Partitions < 1 {
		bad("partitions: %d, must be at least 1", c.Partitions)
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		bad("rate: %v, must be a finite number >= 0", c.Rate)
	}
	if c.Count < 0 {
		bad("count: %d, must be >= 0", c.Count)
	}
	if c.Sensors < 1 || c.Sensors > MaxSensors {
		bad("sensors: %d, must be in [1, %d]", c.Sensors, MaxSensors)
	}
	if !c.StartTime.IsZero() && c.StartTime.UnixMilli() < contract.MinTS {
		bad("start-time: %s is before 2000-01-01, which the contract rejects", c.StartTime.Format(time.RFC3339))
	}
	if c.Step < time.Millisecond {
		bad("step: %s, must be at least 1ms (ts has millisecond resolution)", c.Step)
	}
	if c.Backfill < 0 {
		bad("backfill: %s, must be >= 0", c.Backfill)
	}
	if c.Backfill > 0 && !c.StartTime.IsZero() {
		bad("backfill: only applies when the event-time origin is now; drop --start-time or --backfill")
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"late-fraction", c.LateFraction}, {"duplicate-fraction", c.DuplicateFraction}, {"invalid-fraction", c.InvalidFraction}} {
		if !(f.v >= 0 && f.v <= 1) {
			bad("%s: %v, must be in [0, 1]", f.name, f.v)
		}
	}
	if c.LateBy < 0 {
		bad("late-by: %s, must be >= 0", c.LateBy)
	}
	if c.Progress <= 0 {
		bad("progress: %s, must be > 0", c.Progress)
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			bad("http: %q is not host:port (or empty to disable)", c.HTTPAddr)
		}
	}
	if c.MaxBufferedRecords < 1 {
		bad("max-buffered-records: %d, must be >= 1", c.MaxBufferedRecords)
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown-timeout: %s, must be > 0", c.ShutdownTimeout)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	return nil
}

// LogValue renders the effective configuration for the start-up log line.
func (c Config) LogValue() slog.Value {
	start := "now"
	if !c.StartTime.IsZero() {
		start = c.StartTime.UTC().Format(time.RFC3339Nano)
	}
	seed := "random"
	if c.SeedSet {
		seed = strconv.FormatUint(c.Seed, 10)
	}
	return slog.GroupValue(
		slog.String("brokers", strings.Join(c.Brokers, ",")),
		slog.String("topic", c.Topic),
		slog.Int("partitions", c.Partitions),
		slog.Float64("rate", c.Rate),
		slog.Int64("count", c.Count),
		slog.Int("sensors", c.Sensors),
		slog.String("seed", seed),
		slog.String("start_time", start),
		slog.String("step", c.Step.String()),
		slog.String("backfill", c.Backfill.String()),
		slog.Float64("late_fraction", c.LateFraction),
		slog.String("late_by", c.LateBy.String()),
		slog.Float64("duplicate_fraction", c.DuplicateFraction),
		slog.Float64("invalid_fraction", c.InvalidFraction),
		slog.String("progress", c.Progress.String()),
		slog.String("http_addr", c.HTTPAddr),
		slog.Int("max_buffered_records", c.MaxBufferedRecords),
		slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
		slog.String("log_level", c.LogLevel.String()),
	)
}

// Healthcheck configures the `producer healthcheck` subcommand.
type Healthcheck struct {
	URL     string
	Timeout time.Duration
}

// LoadHealthcheck parses the healthcheck subcommand's args. The default URL
// points at the readiness endpoint of HTTP_ADDR's port on 127.0.0.1.
func LoadHealthcheck(args []string) (Healthcheck, error) {
	return ParseHealthcheck(args, os.LookupEnv, os.Stderr)
}

// ParseHealthcheck is LoadHealthcheck with the environment lookup and usage output injected.
func ParseHealthcheck(args []string, lookupEnv func(string) (string, bool), usage io.Writer) (Healthcheck, error) {
	port := "8081"
	if addr, ok := lookupEnv("HTTP_ADDR"); ok && addr != "" {
		if _, p, err := net.SplitHostPort(addr); err == nil && p != "" {
			port = p
		}
	}
	h := Healthcheck{URL: "http://127.0.0.1:" + port + "/readyz", Timeout: 3 * time.Second}
	fs := flag.NewFlagSet("producer healthcheck", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.StringVar(&h.URL, "url", h.URL, "readiness URL to GET; exit 0 on HTTP 200, 1 otherwise")
	fs.DurationVar(&h.Timeout, "timeout", h.Timeout, "request timeout")
	if err := fs.Parse(args); err != nil {
		return h, err
	}
	var errs []error
	if h.URL == "" {
		errs = append(errs, errors.New("url: must not be empty"))
	}
	if h.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: %s, must be > 0", h.Timeout))
	}
	return h, errors.Join(errs...)
}
