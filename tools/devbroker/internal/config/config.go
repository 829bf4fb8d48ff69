// Package config builds the devbroker's Config from defaults, then the
// environment variables of the apache/kafka image (the subset the devbroker
// needs), then flags, through package envflag as the services do: a variable
// set to the empty string counts as set (KAFKA_LOG_DIRS= keeps data in
// memory).
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

	"github.com/sensorlab/sensorlab/envflag"
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

// listenerSettings are the raw listener settings, turned into Listeners
// together once every variable and flag is read.
type listenerSettings struct {
	listeners    string // KAFKA_LISTENERS
	listenersSet bool   // KAFKA_LISTENERS is set, even if empty
	advertised   string // KAFKA_ADVERTISED_LISTENERS
	controllers  string // KAFKA_CONTROLLER_LISTENER_NAMES
	securityMap  string // KAFKA_LISTENER_SECURITY_PROTOCOL_MAP
	listen       string // --listen
	advertise    string // --advertise
}

// vars binds every setting of the devbroker, in documentation order: the
// flags (with the variable each overrides), then the variables without a
// flag.
func (c *Config) vars(l *listenerSettings) []envflag.Var {
	return []envflag.Var{
		{Flag: "listen", Default: "(none)", Usage: "serve one PLAINTEXT listener on host:port, replacing " + EnvListeners, Value: envflag.String(&l.listen)},
		{Flag: "advertise", Default: "the --listen address", Usage: "host:port the --listen listener advertises (localhost if the --listen host is empty)", Value: envflag.String(&l.advertise)},
		{Flag: "data-dir", Env: EnvLogDirs, Default: "(empty)", Usage: "persist data in this directory (the first of a comma-separated list); empty: in memory", Value: envflag.Func(c.setDataDir, func() string { return c.DataDir })},
		{Flag: "partitions", Env: EnvNumPartitions, Default: "1", Usage: "partitions of auto-created topics", Value: envflag.Int(&c.NumPartitions)},
		{Flag: "log-level", Env: EnvDevbrokerLogLevel, Default: "info", Usage: "debug, info, warn or error", Value: envflag.Level(&c.LogLevel)},
		{Env: EnvListeners, Default: "PLAINTEXT://" + DefaultListen, Usage: "NAME://host:port,... sockets to serve (empty host: all interfaces)", Value: envflag.Func(func(s string) error {
			l.listeners, l.listenersSet = s, true
			return nil
		}, func() string { return l.listeners })},
		{Env: EnvAdvertised, Default: "(none)", Usage: "NAME://host:port,... what each listener tells its clients; a listener without one advertises itself", Value: envflag.String(&l.advertised)},
		{Env: EnvControllerNames, Default: "(none)", Usage: "listeners to skip (there is no controller quorum)", Value: envflag.String(&l.controllers)},
		{Env: EnvSecurityMap, Default: "(Kafka's)", Usage: "NAME:PROTOCOL,...; every served listener must be PLAINTEXT; empty: Kafka's default map", Value: envflag.String(&l.securityMap)},
		{Env: EnvAutoCreateTopics, Default: "true", Usage: "Metadata and Produce create missing topics, as Kafka's auto.create.topics.enable", Value: envflag.Bool(&c.AutoCreateTopics)},
		{Env: EnvClusterID, Default: "(kfake's)", Usage: "cluster id reported to clients; empty: kfake chooses", Value: envflag.String(&c.ClusterID)},
	}
}

func (c *Config) setDataDir(s string) error {
	first, _, _ := strings.Cut(s, ",") // Kafka takes a list; one broker needs one directory
	c.DataDir = strings.TrimSpace(first)
	return nil
}

// Load reads the process environment, then args (without the program name).
// It returns flag.ErrHelp when args ask for help (after printing usage to
// stderr).
func Load(args []string) (Config, error) {
	return Parse(args, os.Environ(), os.Stderr)
}

// Parse builds a Config from defaults, then environ (KEY=VALUE entries), then
// args (without the program name), and validates it. All problems found are
// reported together. It takes the whole environment, not a lookup function
// as the services' configs do, to list the KAFKA_* variables it ignores.
func Parse(args, environ []string, usage io.Writer) (Config, error) {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg := Default()
	for k := range env {
		if strings.HasPrefix(k, "KAFKA_") && !slices.Contains(used, k) {
			cfg.Ignored = append(cfg.Ignored, k)
		}
	}
	sort.Strings(cfg.Ignored)

	var l listenerSettings
	err := envflag.Parse("devbroker", cfg.vars(&l), args, lookup, usage)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, err
	}
	errs := []error{err}
	switch {
	case l.listen != "":
		if ln, err := listenerFromFlags(l.listen, l.advertise); err != nil {
			errs = append(errs, err)
		} else {
			cfg.Listeners = []Listener{ln}
		}
	case l.advertise != "":
		errs = append(errs, errors.New("--advertise needs --listen"))
	case l.listenersSet:
		if ls, err := listenersFromKafka(l.listeners, l.advertised, l.controllers, l.securityMap); err != nil {
			errs = append(errs, err)
		} else {
			cfg.Listeners = ls
		}
	case strings.TrimSpace(l.advertised) != "":
		errs = append(errs, fmt.Errorf("%s is set but %s is not", EnvAdvertised, EnvListeners))
	}
	errs = append(errs, cfg.Validate())
	return cfg, errors.Join(errs...)
}

// used lists the variables the devbroker understands; the other KAFKA_* ones
// end up in Config.Ignored.
var used = []string{
	EnvListeners, EnvAdvertised, EnvControllerNames, EnvSecurityMap,
	EnvLogDirs, EnvNumPartitions, EnvAutoCreateTopics,
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Listeners) == 0 {
		errs = append(errs, errors.New("no listener to serve: "+EnvListeners+" is empty or lists controller listeners only"))
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
