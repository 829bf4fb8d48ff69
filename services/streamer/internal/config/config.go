// Package config is the streamer's one typed configuration: defaults, then
// environment variables, then flags. It is the only package of the streamer
// that reads the environment. Every setting is one row of vars (flag,
// variable, default, meaning), read through package envflag: a variable set
// to the empty string counts as set (ALERTS_TOPIC= disables alerts).
// Validate reports every problem at once.
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

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/envflag"
	"github.com/sensorlab/sensorlab/lake"
)

// Trigger kinds (Structured Streaming's triggers).
const (
	TriggerContinuous   = "continuous"    // --trigger 0: next batch as soon as the previous one ends
	TriggerInterval     = "interval"      // --trigger 5s: one batch per interval
	TriggerAvailableNow = "available-now" // everything available at start, then exit 0
)

// DefaultHTTPAddr is where the live page, /metrics, /healthz and /readyz
// listen by default.
const DefaultHTTPAddr = ":8082"

// Command is what the binary was asked to do.
type Command string

// The streamer's commands.
const (
	CommandRun         Command = "run"         // `streamer [flags]`
	CommandHealthcheck Command = "healthcheck" // `streamer healthcheck [flags]`
)

// Config is the streamer's configuration.
type Config struct {
	Command Command

	// Query is the path of a query file (CREATE SOURCE / CREATE SINK …)
	// whose queries the streamer runs; the settings of SpecialisedOnly are
	// then refused (the query file says them). Empty runs the seed lab's
	// query file (queries/seed/streaming.sql, built in), unless a setting
	// of SpecialisedOnly selects the built-in windowing path.
	Query string

	Brokers  []string
	Topic    string
	DLQTopic string

	Lake       string // URL of the lake: s3://bucket[/prefix] or file:///abs/path
	Checkpoint string // URL of the checkpoint location, same forms
	S3         lake.S3Config

	StartingOffsets      string // earliest | latest; only for a new checkpoint
	Window               time.Duration
	Watermark            time.Duration
	Slide                time.Duration // sliding windows' step; 0 = tumbling
	SessionGap           time.Duration // > 0: session windows per sensor instead
	Dedup                bool          // drop repeated (sensor_id, ts) within the watermark
	SilenceTimeout       time.Duration // > 0: sensor_silent / sensor_recovered alerts
	Trigger              string        // one of the Trigger* kinds
	TriggerInterval      time.Duration
	MaxOffsetsPerTrigger int64
	FailOnDataLoss       bool
	Console              bool
	// OutputMode is the Delta sink's output mode: it only appends (each
	// closed window once), so anything else is refused at start.
	OutputMode string
	// ConsoleMode is the console sink's output mode (append or update).
	ConsoleMode string
	// WindowsTopic, when set, receives window rows as JSON in
	// WindowsTopicMode (append, update or complete), exactly once.
	WindowsTopic     string
	WindowsTopicMode string
	// LateTopic, when set, receives every reading dropped as late.
	LateTopic string
	// AlertsTopic, when set, receives alerts; AlertMaxTemp is the threshold
	// of high_temp alerts on a closed window's max_temp.
	AlertsTopic  string
	AlertMaxTemp float64

	// HTTPAddr serves the live page, /metrics, /healthz and /readyz; empty
	// disables the server.
	HTTPAddr string
	LogLevel slog.Level
	// ShutdownTimeout bounds how long a signal waits for the current batch.
	ShutdownTimeout time.Duration

	// Healthcheck configures `streamer healthcheck`.
	Healthcheck Healthcheck

	// set holds the flags given on the command line or through their
	// variable (Parse fills it), by flag name.
	set map[string]bool
}

// SpecialisedOnly are the flags that only shape the built-in windowing
// path; in query mode the query file says what they say.
var SpecialisedOnly = []string{
	"topic", "window", "watermark", "slide", "session-gap", "dedup", "silence-timeout",
	"output-mode", "console", "console-mode", "windows-topic", "windows-topic-mode",
	"late-topic", "alerts-topic", "alert-max-temp",
}

// Healthcheck configures the healthcheck command: GET URL, within Timeout.
type Healthcheck struct {
	URL     string
	Timeout time.Duration
}

// Default returns the configuration the seed lab runs with.
func Default() Config {
	return Config{
		Command:          CommandRun,
		Brokers:          []string{"localhost:9092"},
		Topic:            contract.EventsTopic,
		DLQTopic:         contract.DLQTopic,
		StartingOffsets:  "latest",
		Window:           10 * time.Second,
		Watermark:        time.Minute,
		Trigger:          TriggerContinuous,
		FailOnDataLoss:   true,
		OutputMode:       "append",
		ConsoleMode:      "update",
		WindowsTopicMode: "update",
		AlertsTopic:      contract.AlertsTopic,
		AlertMaxTemp:     39.5,
		HTTPAddr:         DefaultHTTPAddr,
		LogLevel:         slog.LevelInfo,
		ShutdownTimeout:  20 * time.Second,
		Healthcheck:      Healthcheck{Timeout: 3 * time.Second},
	}
}

// vars binds every setting of the streamer to c, in documentation order.
func (c *Config) vars() []envflag.Var {
	return []envflag.Var{
		{Flag: "query", Env: "QUERY_FILE", Default: "(the seed lab's queries/seed/streaming.sql, built in)", Usage: "query file (CREATE SOURCE / CREATE SINK … AS SELECT) to run; its queries say the topic, windows, watermark and outputs", Value: envflag.String(&c.Query)},
		{Flag: "brokers", Env: "KAFKA_BROKERS", Default: "localhost:9092", Usage: "Kafka bootstrap brokers, comma-separated", Value: envflag.List(&c.Brokers)},
		{Flag: "topic", Env: "TOPIC", Default: contract.EventsTopic, Usage: "topic the readings are read from", Value: envflag.String(&c.Topic)},
		{Flag: "dlq-topic", Env: "DLQ_TOPIC", Default: contract.DLQTopic, Usage: "dead-letter topic for records that do not fit the schema", Value: envflag.String(&c.DLQTopic)},
		{Flag: "lake", Env: "LAKE", Default: "(required)", Usage: "lake URL: s3://bucket[/prefix] or file:///abs/path", Value: envflag.String(&c.Lake)},
		{Flag: "checkpoint", Env: "CHECKPOINT", Default: "<lake>/_checkpoints/streamer", Usage: "checkpoint URL, same forms; empty = the default", Value: envflag.String(&c.Checkpoint)},
		{Flag: "starting-offsets", Env: "STARTING_OFFSETS", Default: "latest", Usage: "earliest or latest; applies only to a new checkpoint", Value: envflag.String(&c.StartingOffsets)},
		{Flag: "window", Env: "WINDOW", Default: "10s", Usage: "tumbling event-time window length", Value: envflag.Duration(&c.Window)},
		{Flag: "watermark", Env: "WATERMARK", Default: "1m", Usage: "watermark delay: how late a reading may arrive", Value: envflag.Duration(&c.Watermark)},
		{Flag: "slide", Env: "SLIDE", Default: "0", Usage: "sliding windows: step between window starts, dividing --window; 0 = tumbling", Value: envflag.Duration(&c.Slide)},
		{Flag: "session-gap", Env: "SESSION_GAP", Default: "0", Usage: "session windows per sensor with this gap, instead of --window/--slide; 0 = off", Value: envflag.Duration(&c.SessionGap)},
		{Flag: "dedup", Env: "DEDUP", Default: "false", Usage: "drop a reading whose (sensor_id, ts) was already seen within the watermark", Value: envflag.Bool(&c.Dedup)},
		{Flag: "silence-timeout", Env: "SILENCE_TIMEOUT", Default: "0", Usage: "alert sensor_silent after this much event time without a reading, sensor_recovered at the next; 0 = off", Value: envflag.Duration(&c.SilenceTimeout)},
		{Flag: "trigger", Env: "TRIGGER", Default: "0", Usage: "0 (next micro-batch as soon as the previous ends), an interval such as 5s, or available-now", Value: envflag.Func(c.setTrigger, c.triggerText)},
		{Flag: "max-offsets-per-trigger", Env: "MAX_OFFSETS_PER_TRIGGER", Default: "0", Usage: "cap on records per micro-batch across partitions; 0 = no cap", Value: envflag.Int64(&c.MaxOffsetsPerTrigger)},
		{Flag: "fail-on-data-loss", Env: "FAIL_ON_DATA_LOSS", Default: "true", Usage: "stop when checkpointed offsets are no longer in Kafka", Value: envflag.Bool(&c.FailOnDataLoss)},
		{Flag: "output-mode", Env: "OUTPUT_MODE", Default: "append", Usage: "output mode of the Delta sink: append (each closed window once; update and complete are refused)", Value: envflag.String(&c.OutputMode)},
		{Flag: "console", Env: "CONSOLE", Default: "false", Usage: "also print rows to stdout, as the seed's console query", Value: envflag.Bool(&c.Console)},
		{Flag: "console-mode", Env: "CONSOLE_MODE", Default: "update", Usage: "output mode of the console sink: append, update or complete (complete keeps every window in state)", Value: envflag.String(&c.ConsoleMode)},
		{Flag: "windows-topic", Env: "WINDOWS_TOPIC", Default: "(empty)", Usage: "topic receiving window rows as JSON, exactly once; empty disables", Value: envflag.String(&c.WindowsTopic)},
		{Flag: "windows-topic-mode", Env: "WINDOWS_TOPIC_MODE", Default: "update", Usage: "output mode of the windows topic: append, update or complete", Value: envflag.String(&c.WindowsTopicMode)},
		{Flag: "late-topic", Env: "LATE_TOPIC", Default: "(empty)", Usage: "topic receiving every reading dropped as late; empty: drop and count only, as Spark", Value: envflag.String(&c.LateTopic)},
		{Flag: "alerts-topic", Env: "ALERTS_TOPIC", Default: contract.AlertsTopic, Usage: "topic receiving alerts, exactly once; empty disables", Value: envflag.String(&c.AlertsTopic)},
		{Flag: "alert-max-temp", Env: "ALERT_MAX_TEMP", Default: "39.5", Usage: "high_temp alert when a closed window's max_temp exceeds this", Value: envflag.Float64(&c.AlertMaxTemp)},
		{Flag: "http", Env: "HTTP_ADDR", Default: DefaultHTTPAddr, Usage: "address of the HTTP server (live page /, /progress, /windows, /metrics, /healthz, /readyz); empty disables", Value: envflag.String(&c.HTTPAddr)},
		{Flag: "log-level", Env: "LOG_LEVEL", Default: "info", Usage: "debug, info, warn or error", Value: envflag.Level(&c.LogLevel)},
		{Flag: "shutdown-timeout", Env: "SHUTDOWN_TIMEOUT", Default: "20s", Usage: "how long a signal waits for the batch in flight", Value: envflag.Duration(&c.ShutdownTimeout)},
		{Env: "S3_ENDPOINT", Default: "(none)", Usage: "S3 endpoint, host:port; needed by an s3:// lake or checkpoint", Value: envflag.String(&c.S3.Endpoint)},
		{Env: "S3_ACCESS_KEY", Default: "(none)", Usage: "S3 access key; needed by an s3:// lake or checkpoint", Value: envflag.String(&c.S3.AccessKey)},
		{Env: "S3_SECRET_KEY", Default: "(none)", Usage: "S3 secret key; needed by an s3:// lake or checkpoint; logged as ****", Value: envflag.String(&c.S3.SecretKey)},
		{Env: "S3_USE_SSL", Default: "false", Usage: "HTTPS to the S3 endpoint", Value: envflag.Bool(&c.S3.UseSSL)},
		{Env: "S3_REGION", Default: "(none)", Usage: "S3 region; MinIO needs none", Value: envflag.String(&c.S3.Region)},
	}
}

// healthcheckVars binds the healthcheck command's settings. HTTP_ADDR is
// read for its port only: the default --url is /readyz on that port.
func (c *Config) healthcheckVars() []envflag.Var {
	return []envflag.Var{
		{Env: "HTTP_ADDR", Default: DefaultHTTPAddr, Usage: "the streamer's HTTP address; the default --url uses its port", Value: envflag.String(&c.HTTPAddr)},
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
	name, vars := "streamer", cfg.vars()
	if len(args) > 0 && args[0] == string(CommandHealthcheck) {
		cfg.Command, args = CommandHealthcheck, args[1:]
		name, vars = "streamer healthcheck", cfg.healthcheckVars()
	}
	cfg.set = map[string]bool{}
	for i := range vars {
		if vars[i].Flag != "" {
			vars[i].Value = tracked(vars[i].Value, vars[i].Flag, cfg.set)
		}
	}
	err := envflag.Parse(name, vars, args, lookupEnv, usage)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, err
	}
	switch {
	case cfg.Command == CommandHealthcheck && cfg.Healthcheck.URL == "":
		cfg.Healthcheck.URL = readyzURL(cfg.HTTPAddr)
	case cfg.Command == CommandRun && cfg.Checkpoint == "" && cfg.Lake != "":
		cfg.Checkpoint = strings.TrimRight(cfg.Lake, "/") + "/_checkpoints/streamer"
	}
	return cfg, errors.Join(err, cfg.Validate())
}

func (c *Config) setTrigger(s string) error {
	switch t := strings.TrimSpace(s); t {
	case "0", "continuous":
		c.Trigger, c.TriggerInterval = TriggerContinuous, 0
	case TriggerAvailableNow, "availableNow", "available_now":
		c.Trigger, c.TriggerInterval = TriggerAvailableNow, 0
	default:
		d, err := time.ParseDuration(t)
		if err != nil || d < 0 {
			return errors.New("want 0, a duration such as 5s, or available-now")
		}
		c.Trigger, c.TriggerInterval = TriggerInterval, d
		if d == 0 {
			c.Trigger = TriggerContinuous
		}
	}
	return nil
}

func (c *Config) triggerText() string {
	if c == nil {
		return ""
	}
	switch c.Trigger {
	case TriggerInterval:
		return c.TriggerInterval.String()
	case TriggerAvailableNow:
		return TriggerAvailableNow
	}
	return "0"
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

// trackedValue records in set that its flag was given (by flag or by
// variable) before setting it.
type trackedValue struct {
	flag.Value
	name string
	set  map[string]bool
}

func (v trackedValue) Set(s string) error { v.set[v.name] = true; return v.Value.Set(s) }

// trackedBool is a trackedValue of a boolean flag (-console without a value).
type trackedBool struct{ trackedValue }

func (trackedBool) IsBoolFlag() bool { return true }

func tracked(v flag.Value, name string, set map[string]bool) flag.Value {
	t := trackedValue{Value: v, name: name, set: set}
	if b, ok := v.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return trackedBool{t}
	}
	return t
}

// Given reports whether flag name was set by its flag or its variable
// (after Parse; a Config built otherwise has none given).
func (c Config) Given(name string) bool { return c.set[name] }

// SpecialisedGiven returns the flags of SpecialisedOnly that were given, as
// --name: any of them selects the built-in windowing path instead of the
// seed lab's query file.
func (c Config) SpecialisedGiven() []string {
	var given []string
	for _, f := range SpecialisedOnly {
		if c.set[f] {
			given = append(given, "--"+f)
		}
	}
	return given
}

// Complete reports whether an output asks for complete mode, which keeps
// every window in state.
func (c Config) Complete() bool {
	return (c.Console && c.ConsoleMode == "complete") || (c.WindowsTopic != "" && c.WindowsTopicMode == "complete")
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	if c.Command == CommandHealthcheck {
		return c.Healthcheck.validate()
	}
	var errs []error
	if c.Query != "" {
		if given := c.SpecialisedGiven(); len(given) > 0 {
			errs = append(errs, fmt.Errorf("%s with --query %s: they are said by the query file in query mode (its CREATE SOURCE and CREATE SINK statements); remove them",
				strings.Join(given, ", "), c.Query))
		}
	}
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("--brokers: at least one broker is required"))
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("--topic: required"))
	}
	if c.DLQTopic == "" || c.DLQTopic == c.Topic {
		errs = append(errs, fmt.Errorf("--dlq-topic %q: required and different from --topic", c.DLQTopic))
	}
	if c.Lake == "" {
		errs = append(errs, errors.New("--lake (LAKE): required, e.g. s3://lake or file:///abs/path"))
	} else if err := checkURL(c.Lake); err != nil {
		errs = append(errs, fmt.Errorf("--lake: %w", err))
	}
	if c.Checkpoint != "" {
		if err := checkURL(c.Checkpoint); err != nil {
			errs = append(errs, fmt.Errorf("--checkpoint: %w", err))
		}
	}
	if (strings.HasPrefix(c.Lake, "s3://") || strings.HasPrefix(c.Checkpoint, "s3://")) &&
		(c.S3.Endpoint == "" || c.S3.AccessKey == "" || c.S3.SecretKey == "") {
		errs = append(errs, errors.New("an s3:// lake or checkpoint needs S3_ENDPOINT, S3_ACCESS_KEY and S3_SECRET_KEY"))
	}
	if c.OutputMode != "append" {
		errs = append(errs, fmt.Errorf("--output-mode %q: the Delta sink only appends (each closed window once); "+
			"use --console --console-mode update to see updated rows", c.OutputMode))
	}
	switch c.ConsoleMode {
	case "append", "update", "complete":
	default:
		errs = append(errs, fmt.Errorf("--console-mode %q: want append, update or complete", c.ConsoleMode))
	}
	if c.SessionGap < 0 || c.SessionGap%time.Millisecond != 0 {
		errs = append(errs, fmt.Errorf("--session-gap %v: want 0 or a positive whole number of milliseconds", c.SessionGap))
	}
	if c.SessionGap > 0 && c.Slide > 0 {
		errs = append(errs, errors.New("--session-gap and --slide: choose session windows or sliding windows, not both"))
	}
	if c.Slide < 0 || c.Slide%time.Millisecond != 0 || (c.Slide > 0 && (c.Slide > c.Window || c.Window%c.Slide != 0)) {
		errs = append(errs, fmt.Errorf("--slide %v: want 0 (tumbling) or a step that divides --window %v", c.Slide, c.Window))
	}
	if c.SilenceTimeout < 0 || c.SilenceTimeout%time.Millisecond != 0 {
		errs = append(errs, fmt.Errorf("--silence-timeout %v: want 0 (off) or a positive whole number of milliseconds", c.SilenceTimeout))
	}
	switch c.WindowsTopicMode {
	case "append", "update", "complete":
	default:
		errs = append(errs, fmt.Errorf("--windows-topic-mode %q: want append, update or complete", c.WindowsTopicMode))
	}
	for name, t := range map[string]string{"--late-topic": c.LateTopic, "--alerts-topic": c.AlertsTopic, "--windows-topic": c.WindowsTopic} {
		if t != "" && (t == c.Topic || t == c.DLQTopic) {
			errs = append(errs, fmt.Errorf("%s %q: must differ from the input and dead-letter topics", name, t))
		}
	}
	if c.StartingOffsets != "earliest" && c.StartingOffsets != "latest" {
		errs = append(errs, fmt.Errorf("--starting-offsets %q: want earliest or latest", c.StartingOffsets))
	}
	if c.Window <= 0 || c.Window%time.Millisecond != 0 {
		errs = append(errs, fmt.Errorf("--window %v: want a positive whole number of milliseconds", c.Window))
	}
	if c.Watermark < 0 || c.Watermark%time.Millisecond != 0 {
		errs = append(errs, fmt.Errorf("--watermark %v: want zero or a positive whole number of milliseconds", c.Watermark))
	}
	if c.MaxOffsetsPerTrigger < 0 {
		errs = append(errs, fmt.Errorf("--max-offsets-per-trigger %d: want 0 (no cap) or more", c.MaxOffsetsPerTrigger))
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			errs = append(errs, fmt.Errorf("--http %q: want host:port, or empty to disable", c.HTTPAddr))
		}
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout %v: want a positive duration", c.ShutdownTimeout))
	}
	return errors.Join(errs...)
}

func (h Healthcheck) validate() error {
	var errs []error
	if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("healthcheck --url %q: want an http(s) URL", h.URL))
	}
	if h.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("healthcheck --timeout %v: want a positive duration", h.Timeout))
	}
	return errors.Join(errs...)
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "s3":
		if u.Host == "" {
			return fmt.Errorf("%q: s3:// needs a bucket", raw)
		}
	case "file":
		if !strings.HasPrefix(u.Path, "/") {
			return fmt.Errorf("%q: file:// needs an absolute path", raw)
		}
	default:
		return fmt.Errorf("%q: want s3://bucket[/prefix] or file:///abs/path", raw)
	}
	return nil
}

// LogValue is the effective configuration as logged at start: the S3
// secret is masked, the access key kept (it names the account, it grants
// nothing).
func (c Config) LogValue() slog.Value {
	secret := ""
	if c.S3.SecretKey != "" {
		secret = "****"
	}
	return slog.GroupValue(
		slog.String("query", c.Query),
		slog.Any("brokers", c.Brokers),
		slog.String("topic", c.Topic),
		slog.String("dlq_topic", c.DLQTopic),
		slog.String("lake", c.Lake),
		slog.String("checkpoint", c.Checkpoint),
		slog.String("s3_endpoint", c.S3.Endpoint),
		slog.String("s3_access_key", c.S3.AccessKey),
		slog.String("s3_secret_key", secret),
		slog.Bool("s3_use_ssl", c.S3.UseSSL),
		slog.String("s3_region", c.S3.Region),
		slog.String("starting_offsets", c.StartingOffsets),
		slog.String("window", c.Window.String()),
		slog.String("watermark", c.Watermark.String()),
		slog.String("slide", c.Slide.String()),
		slog.String("session_gap", c.SessionGap.String()),
		slog.Bool("dedup", c.Dedup),
		slog.String("silence_timeout", c.SilenceTimeout.String()),
		slog.String("trigger", c.triggerText()),
		slog.Int64("max_offsets_per_trigger", c.MaxOffsetsPerTrigger),
		slog.Bool("fail_on_data_loss", c.FailOnDataLoss),
		slog.String("output_mode", c.OutputMode),
		slog.Bool("console", c.Console),
		slog.String("console_mode", c.ConsoleMode),
		slog.String("windows_topic", c.WindowsTopic),
		slog.String("windows_topic_mode", c.WindowsTopicMode),
		slog.String("late_topic", c.LateTopic),
		slog.String("alerts_topic", c.AlertsTopic),
		slog.Float64("alert_max_temp", c.AlertMaxTemp),
		slog.String("http", c.HTTPAddr),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
	)
}
