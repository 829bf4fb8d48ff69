// Package config builds the devbroker's Config from the environment variables
// of the apache/kafka image (the subset the devbroker needs), then from flags.
//
// It is the only package of the devbroker that reads the environment. The
// KAFKA_* variables keep their Kafka meaning: KAFKA_LISTENERS names the sockets
// to bind, KAFKA_ADVERTISED_LISTENERS what each one tells its clients,
// KAFKA_CONTROLLER_LISTENER_NAMES the listeners to skip (the devbroker has no
// controller quorum), KAFKA_LOG_DIRS where data persists, KAFKA_NUM_PARTITIONS
// the partitions of auto-created topics. Every other KAFKA_* variable is kept in
// Config.Ignored so that the caller can log it once.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Environment variables that the devbroker reads. They mean what they mean for
// the apache/kafka image.
const (
	EnvListeners         = "KAFKA_LISTENERS"
	EnvAdvertised        = "KAFKA_ADVERTISED_LISTENERS"
	EnvControllerNames   = "KAFKA_CONTROLLER_LISTENER_NAMES"
	EnvSecurityMap       = "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"
	EnvLogDirs           = "KAFKA_LOG_DIRS"
	EnvNumPartitions     = "KAFKA_NUM_PARTITIONS"
	EnvAutoCreateTopics  = "KAFKA_AUTO_CREATE_TOPICS_ENABLE"
	EnvClusterID         = "CLUSTER_ID"
	EnvDevbrokerLogLevel = "DEVBROKER_LOG_LEVEL"
)

// DefaultListen is the address used when neither KAFKA_LISTENERS nor --listen
// is given: loopback only, so that a plain `devbroker` never exposes itself.
const DefaultListen = "127.0.0.1:9092"

// Listener is one socket the devbroker serves Kafka clients on.
type Listener struct {
	// Name is the Kafka listener name (INTERNAL, EXTERNAL, PLAINTEXT...).
	Name string
	// Bind is the host:port to listen on; an empty host means all interfaces.
	Bind string
	// AdvertisedHost and AdvertisedPort are what Metadata, FindCoordinator and
	// DescribeCluster answers on this listener carry as the broker's address.
	// AdvertisedPort 0 means the port actually bound (useful with port 0).
	AdvertisedHost string
	AdvertisedPort int32
}

// Advertised returns the advertised address as host:port.
func (l Listener) Advertised() string {
	return net.JoinHostPort(l.AdvertisedHost, strconv.Itoa(int(l.AdvertisedPort)))
}

// Config is the devbroker's whole configuration.
type Config struct {
	// Listeners are the sockets to serve, controller listeners excluded.
	Listeners []Listener
	// DataDir is where the broker persists its data; empty keeps it in memory.
	DataDir string
	// NumPartitions is the partition count of auto-created topics.
	NumPartitions int
	// AutoCreateTopics allows Metadata and Produce to create missing topics,
	// as Kafka's auto.create.topics.enable (true by default) does.
	AutoCreateTopics bool
	// ClusterID is the cluster id reported to clients; empty lets kfake choose.
	ClusterID string
	// LogLevel is the level of the JSON log.
	LogLevel slog.Level
	// Ignored lists the KAFKA_* variables that were set but mean nothing to
	// the devbroker, sorted.
	Ignored []string
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Listeners:        []Listener{{Name: "PLAINTEXT", Bind: DefaultListen, AdvertisedHost: "127.0.0.1", AdvertisedPort: 9092}},
		NumPartitions:    1,
		AutoCreateTopics: true,
		LogLevel:         slog.LevelInfo,
	}
}

// Load reads the process environment, then args (without the program name).
func Load(args []string) (Config, error) {
	return Parse(args, os.Environ())
}

// Parse builds a Config from defaults, then environ (KEY=VALUE entries), then
// args (without the program name), and validates it. All problems found are
// reported together.
func Parse(args, environ []string) (Config, error) {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	cfg := Default()
	var errs []error

	if err := cfg.fromEnv(env); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.fromFlags(args); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// used lists the variables the devbroker understands; the other KAFKA_* ones
// end up in Config.Ignored.
var used = []string{
	EnvListeners, EnvAdvertised, EnvControllerNames, EnvSecurityMap,
	EnvLogDirs, EnvNumPartitions, EnvAutoCreateTopics,
}

func (c *Config) fromEnv(env map[string]string) error {
	var errs []error
	for k := range env {
		if strings.HasPrefix(k, "KAFKA_") && !slices.Contains(used, k) {
			c.Ignored = append(c.Ignored, k)
		}
	}
	sort.Strings(c.Ignored)

	if v := strings.TrimSpace(env[EnvListeners]); v != "" {
		ls, err := listenersFromKafka(v, env[EnvAdvertised], env[EnvControllerNames], env[EnvSecurityMap])
		if err != nil {
			errs = append(errs, err)
		} else {
			c.Listeners = ls
		}
	} else if strings.TrimSpace(env[EnvAdvertised]) != "" {
		errs = append(errs, fmt.Errorf("%s is set but %s is not", EnvAdvertised, EnvListeners))
	}
	if v := strings.TrimSpace(env[EnvLogDirs]); v != "" {
		// Kafka accepts a comma-separated list; one broker needs one directory.
		first, _, _ := strings.Cut(v, ",")
		c.DataDir = strings.TrimSpace(first)
	}
	if v := strings.TrimSpace(env[EnvNumPartitions]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: not an integer", EnvNumPartitions, v))
		} else {
			c.NumPartitions = n
		}
	}
	if v := strings.TrimSpace(env[EnvAutoCreateTopics]); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: not a boolean", EnvAutoCreateTopics, v))
		} else {
			c.AutoCreateTopics = b
		}
	}
	if v := strings.TrimSpace(env[EnvClusterID]); v != "" {
		c.ClusterID = v
	}
	if v := strings.TrimSpace(env[EnvDevbrokerLogLevel]); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", EnvDevbrokerLogLevel, v, err))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) fromFlags(args []string) error {
	fs := flag.NewFlagSet("devbroker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	listen := fs.String("listen", "", "serve one PLAINTEXT listener on host:port, replacing "+EnvListeners)
	advertise := fs.String("advertise", "", "host:port the --listen listener advertises (default: the --listen address; localhost if its host is empty)")
	dataDir := fs.String("data-dir", c.DataDir, "persist data in this directory (default "+EnvLogDirs+"; empty: in memory)")
	partitions := fs.Int("partitions", c.NumPartitions, "partitions of auto-created topics (default "+EnvNumPartitions+")")
	logLevel := fs.String("log-level", c.LogLevel.String(), "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("flags: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("flags: unexpected arguments %q", fs.Args())
	}
	var errs []error
	if *listen != "" {
		l, err := listenerFromFlags(*listen, *advertise)
		if err != nil {
			errs = append(errs, err)
		} else {
			c.Listeners = []Listener{l}
		}
	} else if *advertise != "" {
		errs = append(errs, errors.New("--advertise needs --listen"))
	}
	c.DataDir = *dataDir
	c.NumPartitions = *partitions
	if err := c.LogLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level=%q: %w", *logLevel, err))
	}
	return errors.Join(errs...)
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Listeners) == 0 {
		errs = append(errs, errors.New("no listener to serve (all are controller listeners?)"))
	}
	names := map[string]bool{}
	for _, l := range c.Listeners {
		if names[l.Name] {
			errs = append(errs, fmt.Errorf("listener %s: defined twice", l.Name))
		}
		names[l.Name] = true
		if _, _, err := splitPort(l.Bind); err != nil {
			errs = append(errs, fmt.Errorf("listener %s: bind address: %w", l.Name, err))
		}
		if l.AdvertisedHost == "" {
			errs = append(errs, fmt.Errorf("listener %s: empty advertised host", l.Name))
		}
		if l.AdvertisedPort < 0 {
			errs = append(errs, fmt.Errorf("listener %s: advertised port %d: must be 0-65535", l.Name, l.AdvertisedPort))
		}
	}
	if c.NumPartitions < 1 {
		errs = append(errs, fmt.Errorf("partitions %d: must be at least 1", c.NumPartitions))
	}
	return errors.Join(errs...)
}

// listenersFromKafka parses Kafka's listener settings.
func listenersFromKafka(listeners, advertised, controllerNames, secMap string) ([]Listener, error) {
	var errs []error
	controllers := map[string]bool{}
	for _, n := range splitList(controllerNames) {
		controllers[strings.ToUpper(n)] = true
	}
	protocols := map[string]string{}
	for _, kv := range splitList(secMap) {
		name, proto, ok := strings.Cut(kv, ":")
		if !ok {
			errs = append(errs, fmt.Errorf("%s: entry %q: want NAME:PROTOCOL", EnvSecurityMap, kv))
			continue
		}
		protocols[strings.ToUpper(strings.TrimSpace(name))] = strings.ToUpper(strings.TrimSpace(proto))
	}
	if len(protocols) == 0 { // Kafka's default map
		for _, p := range []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"} {
			protocols[p] = p
		}
	}

	adv := map[string]string{}
	for _, e := range splitList(advertised) {
		name, addr, err := splitListener(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvAdvertised, err))
			continue
		}
		adv[name] = addr
	}

	var out []Listener
	seen := map[string]bool{}
	for _, e := range splitList(listeners) {
		name, bind, err := splitListener(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvListeners, err))
			continue
		}
		seen[name] = true
		if controllers[name] {
			continue
		}
		if p, ok := protocols[name]; !ok {
			errs = append(errs, fmt.Errorf("listener %s: no security protocol in %s", name, EnvSecurityMap))
			continue
		} else if p != "PLAINTEXT" {
			errs = append(errs, fmt.Errorf("listener %s: security protocol %s: the devbroker serves PLAINTEXT only", name, p))
			continue
		}
		l := Listener{Name: name, Bind: bind}
		a, ok := adv[name]
		if !ok {
			a = bind // Kafka advertises the listener itself when not told otherwise
		}
		host, port, err := splitPort(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("listener %s: advertised address: %w", name, err))
			continue
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			if host, err = os.Hostname(); err != nil {
				errs = append(errs, fmt.Errorf("listener %s: advertised host: %w", name, err))
				continue
			}
		}
		l.AdvertisedHost, l.AdvertisedPort = host, int32(port)
		out = append(out, l)
	}
	for name := range adv {
		if !seen[name] {
			errs = append(errs, fmt.Errorf("%s: listener %s is not in %s", EnvAdvertised, name, EnvListeners))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func listenerFromFlags(listen, advertise string) (Listener, error) {
	host, port, err := splitPort(listen)
	if err != nil {
		return Listener{}, fmt.Errorf("--listen: %w", err)
	}
	if advertise != "" {
		if host, port, err = splitPort(advertise); err != nil {
			return Listener{}, fmt.Errorf("--advertise: %w", err)
		}
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return Listener{Name: "PLAINTEXT", Bind: listen, AdvertisedHost: host, AdvertisedPort: int32(port)}, nil
}

// splitListener splits NAME://host:port.
func splitListener(s string) (name, addr string, err error) {
	name, addr, ok := strings.Cut(s, "://")
	if !ok || name == "" {
		return "", "", fmt.Errorf("listener %q: want NAME://host:port", s)
	}
	return strings.ToUpper(name), addr, nil
}

// splitPort splits host:port and checks the port (0 is allowed: any port).
func splitPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: port %q: must be 0-65535", addr, p)
	}
	return host, port, nil
}

func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}
