// Package config holds the producer's one typed Config: defaults, then the
// environment, then command-line flags, in that order of precedence.
//
// It is the only package of the producer that reads the environment. Every
// setting is one row of vars (flag, variable, default, meaning), which the
// docs and the README mirror, and is read through package envflag: a
// variable set to the empty string counts as set (HTTP_ADDR= disables the
// HTTP server). Parse reports every problem at once.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/envflag"
)

// MaxSensors is the largest --sensors: ids are S001..S999.
const MaxSensors = 999

// DefaultHTTPAddr is where /healthz, /readyz and /metrics listen by default.
const DefaultHTTPAddr = ":8081"

// Command is what the binary was asked to do.
type Command string

// The producer's commands.
const (
	CommandRun         Command = "run"         // `producer [flags]`
	CommandHealthcheck Command = "healthcheck" // `producer healthcheck [flags]`
)

// Config is the producer's whole configuration.
type Config struct {
	Command Command

	// Brokers are the Kafka seed brokers (host:port).
	Brokers []string
	// Topic receives the readings; Partitions is used when the producer creates it.
	Topic      string
	Partitions int
	// Rate is the target in records per second; 0 means as fast as possible.
	Rate float64
	// KeyBySensor keys each record by its sensor_id; false sends no key
	// (the seed lab's generator, kcat without -K): Kafka's default
	// partitioner then spreads the records over the partitions.
	KeyBySensor bool
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

	// Healthcheck configures `producer healthcheck`.
	Healthcheck Healthcheck
}

// Healthcheck configures the healthcheck command: GET URL, within Timeout.
type Healthcheck struct {
	URL     string
	Timeout time.Duration
}

// Default returns the configuration used when neither environment nor flags say otherwise.
func Default() Config {
	return Config{
		Command:            CommandRun,
		Brokers:            []string{"localhost:9092"},
		Topic:              contract.EventsTopic,
		Partitions:         contract.EventsPartitions,
		Rate:               5,
		KeyBySensor:        true,
		Sensors:            20,
		Step:               200 * time.Millisecond,
		LateBy:             90 * time.Second,
		Progress:           10 * time.Second,
		HTTPAddr:           DefaultHTTPAddr,
		MaxBufferedRecords: 10000,
		ShutdownTimeout:    7 * time.Second,
		LogLevel:           slog.LevelInfo,
		Healthcheck:        Healthcheck{Timeout: 3 * time.Second},
	}
}

// vars binds every setting of the producer to c, in documentation order.
func (c *Config) vars() []envflag.Var {
	return []envflag.Var{
		{Flag: "brokers", Env: "KAFKA_BROKERS", Default: "localhost:9092", Usage: "comma-separated Kafka seed brokers (host:port)", Value: envflag.List(&c.Brokers)},
		{Flag: "topic", Env: "TOPIC", Default: contract.EventsTopic, Usage: "topic the readings go to", Value: envflag.String(&c.Topic)},
		{Flag: "partitions", Env: "PARTITIONS", Default: strconv.Itoa(contract.EventsPartitions), Usage: "partitions when the producer creates the topic (replication 1)", Value: envflag.Int(&c.Partitions)},
		{Flag: "rate", Env: "RATE", Default: "5", Usage: "records per second; 0 = as fast as possible", Value: envflag.Float64(&c.Rate)},
		{Flag: "key-by-sensor", Env: "KEY_BY_SENSOR", Default: "true", Usage: "key each record by its sensor_id; false sends no key (the seed lab's generator)", Value: envflag.Bool(&c.KeyBySensor)},
		{Flag: "count", Env: "COUNT", Default: "0", Usage: "records to send, then flush and exit 0; 0 = until stopped", Value: envflag.Int64(&c.Count)},
		{Flag: "sensors", Env: "SENSORS", Default: "20", Usage: "number of sensors, ids S001.. (1-999)", Value: envflag.Int(&c.Sensors)},
		{Flag: "seed", Env: "SEED", Default: "random (logged)", Usage: "generator seed; same seed and flags give a byte-identical record sequence; empty = random", Value: envflag.Func(c.setSeed, c.seedText)},
		{Flag: "start-time", Env: "START_TIME", Default: "now", Usage: "event-time origin, RFC3339 or epoch ms; when set, ts of record i = start + i*step; empty = now", Value: envflag.Func(c.setStartTime, c.startTimeText)},
		{Flag: "step", Env: "STEP", Default: "200ms", Usage: "event-time spacing between consecutive records on the fixed schedule", Value: envflag.Duration(&c.Step)},
		{Flag: "backfill", Env: "BACKFILL", Default: "0", Usage: "with origin now: first emit, as fast as possible, the records of this span before start", Value: envflag.Duration(&c.Backfill)},
		{Flag: "late-fraction", Env: "LATE_FRACTION", Default: "0", Usage: "fraction of readings whose ts lags by --late-by", Value: envflag.Float64(&c.LateFraction)},
		{Flag: "late-by", Env: "LATE_BY", Default: "1m30s", Usage: "how far a late reading's ts lags", Value: envflag.Duration(&c.LateBy)},
		{Flag: "duplicate-fraction", Env: "DUPLICATE_FRACTION", Default: "0", Usage: "fraction of readings sent twice (same key and value)", Value: envflag.Float64(&c.DuplicateFraction)},
		{Flag: "invalid-fraction", Env: "INVALID_FRACTION", Default: "0", Usage: "fraction of records replaced by a malformed one (each rejected by contract.DecodeEvent)", Value: envflag.Float64(&c.InvalidFraction)},
		{Flag: "progress", Env: "PROGRESS", Default: "10s", Usage: "interval of the progress log line", Value: envflag.Duration(&c.Progress)},
		{Flag: "http", Env: "HTTP_ADDR", Default: DefaultHTTPAddr, Usage: "address of /healthz, /readyz and /metrics; empty disables", Value: envflag.String(&c.HTTPAddr)},
		{Flag: "max-buffered-records", Env: "MAX_BUFFERED_RECORDS", Default: "10000", Usage: "records buffered while the broker is slow or away; producing blocks beyond", Value: envflag.Int(&c.MaxBufferedRecords)},
		{Flag: "shutdown-timeout", Env: "SHUTDOWN_TIMEOUT", Default: "7s", Usage: "bound on the flush after SIGTERM/SIGINT; unacknowledged records are then counted as errors", Value: envflag.Duration(&c.ShutdownTimeout)},
		{Flag: "log-level", Env: "LOG_LEVEL", Default: "info", Usage: "debug, info, warn or error", Value: envflag.Level(&c.LogLevel)},
	}
}

// healthcheckVars binds the healthcheck command's settings. HTTP_ADDR is
// read for its port only: the default --url is /readyz on that port.
func (c *Config) healthcheckVars() []envflag.Var {
	return []envflag.Var{
		{Env: "HTTP_ADDR", Default: DefaultHTTPAddr, Usage: "the producer's HTTP address; the default --url uses its port", Value: envflag.String(&c.HTTPAddr)},
		{Flag: "url", Default: "http://127.0.0.1:<port of HTTP_ADDR>/readyz", Usage: "URL to GET; exit 0 on a 2xx answer, 1 otherwise", Value: envflag.String(&c.Healthcheck.URL)},
		{Flag: "timeout", Default: "3s", Usage: "request timeout", Value: envflag.Duration(&c.Healthcheck.Timeout)},
	}
}

// Load builds the Config from defaults, the process environment and args
// (without the program name), then validates it. It returns flag.ErrHelp
// when args ask for help (after printing usage to stderr).
func Load(args []string) (Config, error) {
	return Parse(args, os.LookupEnv, os.Stderr)
}

// Parse is Load with the environment lookup and the usage output injected.
// `healthcheck` as the first argument selects that command and its flags.
func Parse(args []string, lookupEnv func(string) (string, bool), usage io.Writer) (Config, error) {
	cfg := Default()
	name, vars := "producer", cfg.vars()
	if len(args) > 0 && args[0] == string(CommandHealthcheck) {
		cfg.Command, args = CommandHealthcheck, args[1:]
		name, vars = "producer healthcheck", cfg.healthcheckVars()
	}
	err := envflag.Parse(name, vars, args, lookupEnv, usage)
	if cfg.Command == CommandHealthcheck && cfg.Healthcheck.URL == "" {
		cfg.Healthcheck.URL = readyzURL(cfg.HTTPAddr)
	}
	if errors.Is(err, flag.ErrHelp) {
		return cfg, err
	}
	return cfg, errors.Join(err, cfg.Validate())
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	if c.Command == CommandHealthcheck {
		return c.Healthcheck.validate()
	}
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
	return errors.Join(errs...)
}

func (h Healthcheck) validate() error {
	var errs []error
	if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("healthcheck url: %q, want an http(s) URL", h.URL))
	}
	if h.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("healthcheck timeout: %s, must be > 0", h.Timeout))
	}
	return errors.Join(errs...)
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

func (c *Config) setSeed(s string) error {
	if s = strings.TrimSpace(s); s == "" {
		c.Seed, c.SeedSet = 0, false
		return nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return errors.New("want an unsigned integer, or empty for a random seed")
	}
	c.Seed, c.SeedSet = n, true
	return nil
}

func (c *Config) seedText() string {
	if c == nil || !c.SeedSet {
		return ""
	}
	return strconv.FormatUint(c.Seed, 10)
}

func (c *Config) setStartTime(s string) error {
	t, err := ParseStartTime(s)
	if err != nil {
		return err
	}
	c.StartTime = t
	return nil
}

func (c *Config) startTimeText() string {
	if c == nil || c.StartTime.IsZero() {
		return ""
	}
	return c.StartTime.UTC().Format(time.RFC3339Nano)
}

// ParseStartTime parses a --start-time value: RFC3339 or epoch milliseconds.
// "" and "now" return the zero time, meaning the wall clock.
func ParseStartTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "now" {
		return time.Time{}, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errors.New("want RFC3339 (2024-11-21T14:40:00Z), epoch milliseconds, or empty for now")
	}
	return t, nil
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
		slog.String("http", c.HTTPAddr),
		slog.Int("max_buffered_records", c.MaxBufferedRecords),
		slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
		slog.String("log_level", c.LogLevel.String()),
	)
}
