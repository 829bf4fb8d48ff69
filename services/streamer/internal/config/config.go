// Package config is the streamer's one typed configuration: defaults, then
// environment variables, then flags. It is the only package of the streamer
// that reads the environment. Every setting is one row of vars (flag,
// variable, default, meaning), read through package envflag: a variable set
// to the empty string counts as set (HTTP_ADDR= disables the HTTP server).
// Validate reports every problem at once. What the streamer computes and
// where it writes it (the topic, the windows, the watermark, the sinks) is
// the query file's to say, not a flag's (--query).
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
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
	CommandFront       Command = "front"       // `streamer front [flags]`
)

// Config is the streamer's configuration.
type Config struct {
	Command Command

	// Query is the path of a query file (CREATE SOURCE / CREATE SINK …)
	// whose queries the streamer runs. Empty runs the seed lab's query
	// file (queries/seed/streaming.sql, built in).
	Query string

	Brokers  []string
	DLQTopic string

	Lake       string // URL of the lake: s3://bucket[/prefix] or file:///abs/path
	Checkpoint string // URL of the checkpoint location, same forms
	S3         lake.S3Config

	StartingOffsets      string // earliest | latest; only for a new checkpoint
	Trigger              string // one of the Trigger* kinds
	TriggerInterval      time.Duration
	MaxOffsetsPerTrigger int64
	FailOnDataLoss       bool

	// Group, when set, makes this streamer one replica of the query: it
	// joins the Kafka consumer group of that name and runs the query over
	// the partitions the group assigns it, each with its own checkpoint
	// under <checkpoint>/partitions/<n>. Empty: one streamer reads every
	// partition.
	Group string
	// GroupSessionTimeout is how long the group waits for a silent replica
	// before it gives the replica's partitions to the others.
	GroupSessionTimeout time.Duration
	// GroupIdleTimeout is how long a replica's partition goes without a
	// record before its watermark follows the query's (Flink's idleness).
	GroupIdleTimeout time.Duration

	// HTTPAddr serves the live page, /metrics, /healthz and /readyz; empty
	// disables the server.
	HTTPAddr string
	LogLevel slog.Level
	// ShutdownTimeout bounds how long a signal waits for the current batch.
	ShutdownTimeout time.Duration

	// Healthcheck configures `streamer healthcheck`.
	Healthcheck Healthcheck

	// Front configures `streamer front`.
	Front Front
}

// removedFlags are flags of the streamer's former built-in windowing path:
// a query file says what they said. Given one, Parse says so instead of
// calling it unknown. The boolean ones take no separate value.
var removedFlags = map[string]struct {
	bool bool
	says string // where the query file says it instead
}{
	"topic":              {false, "the query file says it: CREATE SOURCE … WITH (topic = '…')"},
	"window":             {false, "the query file says it: GROUP BY window(event_time, '10 seconds')"},
	"watermark":          {false, "the query file says it: CREATE SOURCE's WATERMARK FOR event_time AS event_time - INTERVAL '1' MINUTE"},
	"slide":              {false, "the query file says it: GROUP BY window(event_time, '<length>', '<slide>')"},
	"session-gap":        {false, "the query file says it: GROUP BY session_window(event_time, '<gap>')"},
	"dedup":              {true, "not supported: a query file does not drop duplicate readings"},
	"silence-timeout":    {false, "not supported: a query file raises no silence alerts"},
	"output-mode":        {false, "the query file says it: CREATE SINK … WITH (mode = '…')"},
	"console":            {true, "the query file says it: CREATE SINK … WITH (connector = 'console')"},
	"console-mode":       {false, "the query file says it: CREATE SINK … WITH (connector = 'console', mode = '…')"},
	"windows-topic":      {false, "the query file says it: CREATE SINK … WITH (connector = 'kafka', topic = '…')"},
	"windows-topic-mode": {false, "the query file says it: CREATE SINK … WITH (connector = 'kafka', mode = '…')"},
	"late-topic":         {false, "the query file says it: CREATE SOURCE … WITH (late_topic = '…')"},
	"alerts-topic":       {false, "the query file says it: the alerts sink: CREATE SINK alerts WITH (connector = 'kafka', topic = '…')"},
	"alert-max-temp":     {false, "the query file says it: the alerts sink's HAVING max(temp) > …"},
}

// dropRemoved takes the flags of removedFlags (and their values) out of
// args and returns an error naming each with what says it now; nil when
// there were none. It reads args as package flag does, given the flags of
// vars: a flag that is not boolean takes the next argument as its value
// unless written --name=value, and the flags end at "--" or at the first
// argument that is not a flag.
func dropRemoved(args []string, vars []envflag.Var) ([]string, error) {
	isBool := map[string]bool{}
	for _, v := range vars {
		if b, ok := v.Value.(interface{ IsBoolFlag() bool }); ok && v.Flag != "" {
			isBool[v.Flag] = b.IsBoolFlag()
		}
	}
	var kept []string
	var msgs []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			kept = append(kept, args[i:]...)
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		r, removed := removedFlags[name]
		if !removed {
			kept = append(kept, a)
			if !hasValue && !isBool[name] && i+1 < len(args) {
				i++
				kept = append(kept, args[i]) // its value
			}
			continue
		}
		if !hasValue && !r.bool && i+1 < len(args) {
			i++ // its value
		}
		msgs = append(msgs, fmt.Sprintf("--%s: no such flag any more; %s", name, r.says))
	}
	if len(msgs) == 0 {
		return args, nil
	}
	return kept, fmt.Errorf("%s.\nThe streamer runs a query file: --query FILE, by default the seed lab's queries/seed/streaming.sql; "+
		"copy that file, change it, and pass it with --query", strings.Join(msgs, "\n"))
}

// removedEnv refuses the variables of removedFlags (WINDOW, LATE_TOPIC, …)
// when set: read no more, they would otherwise be ignored without a word,
// and a deployment that sets WINDOW=30s would get the seed's 10 seconds.
func removedEnv(lookupEnv func(string) (string, bool)) error {
	var msgs []string
	for _, name := range slices.Sorted(maps.Keys(removedFlags)) {
		env := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if _, set := lookupEnv(env); set {
			msgs = append(msgs, fmt.Sprintf("%s: no such variable any more (it was --%s); %s; unset it", env, name, removedFlags[name].says))
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// Healthcheck configures the healthcheck command: GET URL, within Timeout.
type Healthcheck struct {
	URL     string
	Timeout time.Duration
}

// Front configures the front command: one HTTP address (HTTPAddr) in front
// of a query's replicas, all reached at Replicas, a host:port whose host
// name resolves to every replica's address (a compose service's name does).
type Front struct {
	Replicas string
}

// Default returns the configuration the seed lab runs with.
func Default() Config {
	return Config{
		Command:             CommandRun,
		Brokers:             []string{"localhost:9092"},
		DLQTopic:            contract.DLQTopic,
		StartingOffsets:     "latest",
		Trigger:             TriggerContinuous,
		FailOnDataLoss:      true,
		HTTPAddr:            DefaultHTTPAddr,
		LogLevel:            slog.LevelInfo,
		ShutdownTimeout:     20 * time.Second,
		GroupSessionTimeout: 10 * time.Second,
		GroupIdleTimeout:    30 * time.Second,
		Healthcheck:         Healthcheck{Timeout: 3 * time.Second},
		Front:               Front{Replicas: "streamer:8082"},
	}
}

// vars binds every setting of the streamer to c, in documentation order.
func (c *Config) vars() []envflag.Var {
	return []envflag.Var{
		{Flag: "query", Env: "QUERY_FILE", Default: "(the seed lab's queries/seed/streaming.sql, built in)", Usage: "query file (CREATE SOURCE / CREATE SINK … AS SELECT) to run; its queries say the topic, windows, watermark and outputs", Value: envflag.String(&c.Query)},
		{Flag: "brokers", Env: "KAFKA_BROKERS", Default: "localhost:9092", Usage: "Kafka bootstrap brokers, comma-separated", Value: envflag.List(&c.Brokers)},
		{Flag: "dlq-topic", Env: "DLQ_TOPIC", Default: contract.DLQTopic, Usage: "dead-letter topic for records that do not fit the source's schema or its CHECK constraints", Value: envflag.String(&c.DLQTopic)},
		{Flag: "lake", Env: "LAKE", Default: "(required)", Usage: "lake URL: s3://bucket[/prefix] or file:///abs/path", Value: envflag.String(&c.Lake)},
		{Flag: "checkpoint", Env: "CHECKPOINT", Default: "<lake>/_checkpoints/streamer", Usage: "checkpoint URL, same forms; empty = the default", Value: envflag.String(&c.Checkpoint)},
		{Flag: "starting-offsets", Env: "STARTING_OFFSETS", Default: "latest", Usage: "earliest or latest; applies only to a new checkpoint", Value: envflag.String(&c.StartingOffsets)},
		{Flag: "trigger", Env: "TRIGGER", Default: "0", Usage: "0 (next micro-batch as soon as the previous ends), an interval such as 5s, or available-now", Value: envflag.Func(c.setTrigger, c.triggerText)},
		{Flag: "max-offsets-per-trigger", Env: "MAX_OFFSETS_PER_TRIGGER", Default: "0", Usage: "cap on records per micro-batch across partitions; 0 = no cap", Value: envflag.Int64(&c.MaxOffsetsPerTrigger)},
		{Flag: "fail-on-data-loss", Env: "FAIL_ON_DATA_LOSS", Default: "true", Usage: "stop when checkpointed offsets are no longer in Kafka", Value: envflag.Bool(&c.FailOnDataLoss)},
		{Flag: "group", Env: "GROUP", Default: "(none)", Usage: "Kafka consumer group of the query's replicas: each replica runs the query over the partitions the group assigns it; empty = this streamer reads every partition", Value: envflag.String(&c.Group)},
		{Flag: "group-session-timeout", Env: "GROUP_SESSION_TIMEOUT", Default: "10s", Usage: "how long the group waits for a silent replica before giving its partitions to the others", Value: envflag.Duration(&c.GroupSessionTimeout)},
		{Flag: "group-idle-timeout", Env: "GROUP_IDLE_TIMEOUT", Default: "30s", Usage: "how long a replica's partition goes without a record before its watermark follows the other partitions'", Value: envflag.Duration(&c.GroupIdleTimeout)},
		{Flag: "http", Env: "HTTP_ADDR", Default: DefaultHTTPAddr, Usage: "address of the HTTP server (live page /, /progress, /rows, /metrics, /healthz, /readyz); empty disables", Value: envflag.String(&c.HTTPAddr)},
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

// frontVars binds the front command's settings.
func (c *Config) frontVars() []envflag.Var {
	return []envflag.Var{
		{Flag: "http", Env: "HTTP_ADDR", Default: DefaultHTTPAddr, Usage: "address the front serves the replicas' page, /metrics and the rest on, and /replicas", Value: envflag.String(&c.HTTPAddr)},
		{Flag: "replicas", Env: "FRONT_REPLICAS", Default: "streamer:8082", Usage: "host:port of the replicas' HTTP servers; the host name resolves to every replica (a compose service's name does)", Value: envflag.String(&c.Front.Replicas)},
		{Flag: "log-level", Env: "LOG_LEVEL", Default: "info", Usage: "debug, info, warn or error", Value: envflag.Level(&c.LogLevel)},
	}
}

// Load builds the Config from defaults, the process environment and args
// (without the program name), then validates it. It returns flag.ErrHelp
// when args ask for help (after printing usage to stderr).
func Load(args []string) (Config, error) {
	return Parse(args, os.LookupEnv, os.Stderr)
}

// Parse is Load with the environment lookup and the usage output injected.
// `healthcheck` or `front` as the first argument selects that command and
// its flags.
func Parse(args []string, lookupEnv func(string) (string, bool), usage io.Writer) (Config, error) {
	cfg := Default()
	name, vars := "streamer", cfg.vars()
	if len(args) > 0 && args[0] == string(CommandHealthcheck) {
		cfg.Command, args = CommandHealthcheck, args[1:]
		name, vars = "streamer healthcheck", cfg.healthcheckVars()
	} else if len(args) > 0 && args[0] == string(CommandFront) {
		cfg.Command, args = CommandFront, args[1:]
		name, vars = "streamer front", cfg.frontVars()
	}
	var removed error
	if cfg.Command == CommandRun {
		args, removed = dropRemoved(args, vars)
		removed = errors.Join(removed, removedEnv(lookupEnv))
	}
	err := envflag.Parse(name, vars, args, lookupEnv, usage)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, err
	}
	err = errors.Join(removed, err)
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

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	switch c.Command {
	case CommandHealthcheck:
		return c.Healthcheck.validate()
	case CommandFront:
		return c.validateFront()
	}
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("--brokers: at least one broker is required"))
	}
	if c.DLQTopic == "" {
		errs = append(errs, errors.New("--dlq-topic: required"))
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
	if c.StartingOffsets != "earliest" && c.StartingOffsets != "latest" {
		errs = append(errs, fmt.Errorf("--starting-offsets %q: want earliest or latest", c.StartingOffsets))
	}
	if c.MaxOffsetsPerTrigger < 0 {
		errs = append(errs, fmt.Errorf("--max-offsets-per-trigger %d: want 0 (no cap) or more", c.MaxOffsetsPerTrigger))
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			errs = append(errs, fmt.Errorf("--http %q: want host:port, or empty to disable", c.HTTPAddr))
		}
	}
	if c.Group != "" && c.Trigger == TriggerAvailableNow {
		errs = append(errs, errors.New("--trigger available-now processes what one streamer finds at start, then exits: not with --group, whose replicas share the partitions as long as they run"))
	}
	if c.Group != "" && (c.GroupSessionTimeout < 6*time.Second || c.GroupSessionTimeout > 5*time.Minute) {
		errs = append(errs, fmt.Errorf("--group-session-timeout %v: want 6s to 5m (the broker's group.min/max.session.timeout.ms)", c.GroupSessionTimeout))
	}
	if c.Group != "" && c.GroupIdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--group-idle-timeout %v: want a positive duration", c.GroupIdleTimeout))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout %v: want a positive duration", c.ShutdownTimeout))
	}
	return errors.Join(errs...)
}

func (c Config) validateFront() error {
	var errs []error
	if c.HTTPAddr == "" {
		errs = append(errs, errors.New("front --http: required (the front has nothing else to do)"))
	}
	if host, port, err := net.SplitHostPort(c.Front.Replicas); err != nil || host == "" || port == "" {
		errs = append(errs, fmt.Errorf("front --replicas %q: want host:port, such as streamer:8082", c.Front.Replicas))
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
		slog.String("dlq_topic", c.DLQTopic),
		slog.String("lake", c.Lake),
		slog.String("checkpoint", c.Checkpoint),
		slog.String("s3_endpoint", c.S3.Endpoint),
		slog.String("s3_access_key", c.S3.AccessKey),
		slog.String("s3_secret_key", secret),
		slog.Bool("s3_use_ssl", c.S3.UseSSL),
		slog.String("s3_region", c.S3.Region),
		slog.String("starting_offsets", c.StartingOffsets),
		slog.String("trigger", c.triggerText()),
		slog.Int64("max_offsets_per_trigger", c.MaxOffsetsPerTrigger),
		slog.Bool("fail_on_data_loss", c.FailOnDataLoss),
		slog.String("group", c.Group),
		slog.String("group_session_timeout", c.GroupSessionTimeout.String()),
		slog.String("group_idle_timeout", c.GroupIdleTimeout.String()),
		slog.String("http", c.HTTPAddr),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
	)
}
