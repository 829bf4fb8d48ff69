// Package config is the streamer's one typed configuration: defaults, then
// environment variables, then flags. It is the only package of the streamer
// that reads the environment. Validate reports every problem at once.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
)

// Trigger kinds (Structured Streaming's triggers).
const (
	TriggerContinuous   = "continuous"    // --trigger 0: next batch as soon as the previous one ends
	TriggerInterval     = "interval"      // --trigger 5s: one batch per interval
	TriggerAvailableNow = "available-now" // everything available at start, then exit 0
)

// Config is the streamer's configuration.
type Config struct {
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
	// OutputMode is the Parquet sink's output mode: a file sink can only
	// append (Spark's too), so anything else is refused at start.
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

	HTTPAddr string
	LogLevel string
	// ShutdownTimeout bounds how long a signal waits for the current batch.
	ShutdownTimeout time.Duration
}

// Default returns the configuration the seed lab runs with.
func Default() Config {
	return Config{
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
		HTTPAddr:         ":8082",
		LogLevel:         "info",
		ShutdownTimeout:  20 * time.Second,
	}
}

// Env lists the environment variables a flag can also be set by, flag → var.
var Env = map[string]string{
	"brokers":                 "KAFKA_BROKERS",
	"topic":                   "TOPIC",
	"dlq-topic":               "DLQ_TOPIC",
	"lake":                    "LAKE",
	"checkpoint":              "CHECKPOINT",
	"starting-offsets":        "STARTING_OFFSETS",
	"window":                  "WINDOW",
	"slide":                   "SLIDE",
	"session-gap":             "SESSION_GAP",
	"dedup":                   "DEDUP",
	"silence-timeout":         "SILENCE_TIMEOUT",
	"watermark":               "WATERMARK",
	"trigger":                 "TRIGGER",
	"max-offsets-per-trigger": "MAX_OFFSETS_PER_TRIGGER",
	"fail-on-data-loss":       "FAIL_ON_DATA_LOSS",
	"console":                 "CONSOLE",
	"output-mode":             "OUTPUT_MODE",
	"console-mode":            "CONSOLE_MODE",
	"late-topic":              "LATE_TOPIC",
	"windows-topic":           "WINDOWS_TOPIC",
	"windows-topic-mode":      "WINDOWS_TOPIC_MODE",
	"alerts-topic":            "ALERTS_TOPIC",
	"alert-max-temp":          "ALERT_MAX_TEMP",
	"http":                    "HTTP_ADDR",
	"log-level":               "LOG_LEVEL",
	"shutdown-timeout":        "SHUTDOWN_TIMEOUT",
}

// Load builds the configuration from the environment (getenv) and the
// command-line arguments (flags win). It returns every problem at once.
func Load(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	cfg := Default()
	fs := flag.NewFlagSet("streamer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var brokers, trigger string
	fs.StringVar(&brokers, "brokers", strings.Join(cfg.Brokers, ","), "Kafka bootstrap brokers, comma-separated")
	fs.StringVar(&cfg.Topic, "topic", cfg.Topic, "topic to read sensor readings from")
	fs.StringVar(&cfg.DLQTopic, "dlq-topic", cfg.DLQTopic, "dead-letter topic for records that do not fit the schema")
	fs.StringVar(&cfg.Lake, "lake", cfg.Lake, "lake URL: s3://bucket[/prefix] or file:///abs/path (required)")
	fs.StringVar(&cfg.Checkpoint, "checkpoint", cfg.Checkpoint, "checkpoint URL (default <lake>/_checkpoints/streamer)")
	fs.StringVar(&cfg.StartingOffsets, "starting-offsets", cfg.StartingOffsets, "earliest or latest; applies only to a new checkpoint")
	fs.DurationVar(&cfg.Window, "window", cfg.Window, "tumbling event-time window length")
	fs.DurationVar(&cfg.Slide, "slide", 0, "sliding windows: step between window starts (0 = tumbling windows); --window must be a multiple")
	fs.DurationVar(&cfg.SessionGap, "session-gap", 0, "session windows per sensor with this gap, instead of --window/--slide (0 = off)")
	fs.BoolVar(&cfg.Dedup, "dedup", false, "drop a reading whose (sensor_id, ts) was already seen within the watermark")
	fs.DurationVar(&cfg.SilenceTimeout, "silence-timeout", 0, "alert sensor_silent after this much event time without a reading, sensor_recovered at the next (0 = off)")
	fs.DurationVar(&cfg.Watermark, "watermark", cfg.Watermark, "watermark delay: how late a reading may arrive")
	fs.StringVar(&trigger, "trigger", "0", "0 (continuous micro-batches), an interval such as 5s, or available-now")
	fs.Int64Var(&cfg.MaxOffsetsPerTrigger, "max-offsets-per-trigger", 0, "cap on records per micro-batch across partitions (0 = no cap)")
	fs.BoolVar(&cfg.FailOnDataLoss, "fail-on-data-loss", cfg.FailOnDataLoss, "stop when checkpointed offsets are no longer in Kafka")
	fs.BoolVar(&cfg.Console, "console", false, "also print update-mode rows to stdout, as the seed's console query")
	fs.StringVar(&cfg.OutputMode, "output-mode", cfg.OutputMode, "output mode of the Parquet sink: append (a file sink cannot update or complete)")
	fs.StringVar(&cfg.ConsoleMode, "console-mode", cfg.ConsoleMode, "output mode of the console sink: append, update or complete (complete keeps every window in state)")
	fs.StringVar(&cfg.WindowsTopic, "windows-topic", cfg.WindowsTopic, "topic receiving window rows as JSON, exactly once (empty disables)")
	fs.StringVar(&cfg.WindowsTopicMode, "windows-topic-mode", cfg.WindowsTopicMode, "output mode of the windows topic: append, update or complete")
	fs.StringVar(&cfg.LateTopic, "late-topic", cfg.LateTopic, "topic receiving every reading dropped as late (empty: drop and count only, as Spark)")
	fs.StringVar(&cfg.AlertsTopic, "alerts-topic", cfg.AlertsTopic, "topic receiving alerts, exactly once (empty disables)")
	fs.Float64Var(&cfg.AlertMaxTemp, "alert-max-temp", cfg.AlertMaxTemp, "high_temp alert when a closed window's max_temp exceeds this")
	fs.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, "address of the HTTP server (live page /, /progress, /windows, /metrics, /healthz, /readyz); empty disables")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long a signal waits for the current batch")

	var errs []error
	// Environment first, through the flags themselves, so parsing rules are one.
	fs.VisitAll(func(f *flag.Flag) {
		name, ok := Env[f.Name]
		if !ok {
			return
		}
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
			}
		}
	})
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	cfg.Brokers = splitList(brokers)
	cfg.S3 = lake.S3Config{
		Endpoint:  getenv("S3_ENDPOINT"),
		AccessKey: getenv("S3_ACCESS_KEY"),
		SecretKey: getenv("S3_SECRET_KEY"),
		Region:    getenv("S3_REGION"),
	}
	if v := getenv("S3_USE_SSL"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("S3_USE_SSL=%q: not a boolean", v))
		}
		cfg.S3.UseSSL = b
	}
	switch t := strings.TrimSpace(trigger); t {
	case "0", "", "continuous":
		cfg.Trigger = TriggerContinuous
	case TriggerAvailableNow, "availableNow", "available_now":
		cfg.Trigger = TriggerAvailableNow
	default:
		d, err := time.ParseDuration(t)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("--trigger %q: want 0, a duration such as 5s, or available-now", t))
		} else if d == 0 {
			cfg.Trigger = TriggerContinuous
		} else {
			cfg.Trigger, cfg.TriggerInterval = TriggerInterval, d
		}
	}
	if cfg.Checkpoint == "" && cfg.Lake != "" {
		cfg.Checkpoint = strings.TrimRight(cfg.Lake, "/") + "/_checkpoints/streamer"
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// Complete reports whether an output asks for complete mode, which keeps
// every window in state.
func (c Config) Complete() bool {
	return (c.Console && c.ConsoleMode == "complete") || (c.WindowsTopic != "" && c.WindowsTopicMode == "complete")
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
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
		errs = append(errs, fmt.Errorf("--output-mode %q: the Parquet sink only appends (each closed window once); "+
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
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout %v: want a positive duration", c.ShutdownTimeout))
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

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Redacted returns the configuration as log attributes, with secrets masked.
func (c Config) Redacted() map[string]any {
	secret := ""
	if c.S3.SecretKey != "" {
		secret = "****"
	}
	return map[string]any{
		"brokers": c.Brokers, "topic": c.Topic, "dlq_topic": c.DLQTopic, "lake": c.Lake,
		"checkpoint": c.Checkpoint, "s3_endpoint": c.S3.Endpoint, "s3_access_key": c.S3.AccessKey,
		"s3_secret_key": secret, "s3_use_ssl": c.S3.UseSSL, "starting_offsets": c.StartingOffsets,
		"window": c.Window.String(), "watermark": c.Watermark.String(), "slide": c.Slide.String(),
		"session_gap": c.SessionGap.String(), "dedup": c.Dedup, "silence_timeout": c.SilenceTimeout.String(), "trigger": c.Trigger,
		"trigger_interval": c.TriggerInterval.String(), "max_offsets_per_trigger": c.MaxOffsetsPerTrigger,
		"fail_on_data_loss": c.FailOnDataLoss, "console": c.Console, "console_mode": c.ConsoleMode,
		"output_mode": c.OutputMode, "windows_topic": c.WindowsTopic, "windows_topic_mode": c.WindowsTopicMode,
		"late_topic": c.LateTopic, "alerts_topic": c.AlertsTopic,
		"alert_max_temp": c.AlertMaxTemp, "http": c.HTTPAddr, "s3_region": c.S3.Region,
		"log_level": c.LogLevel, "shutdown_timeout": c.ShutdownTimeout.String(),
	}
}

// SlogLevel maps a validated --log-level to its slog level.
func SlogLevel(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
