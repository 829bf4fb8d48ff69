package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
)

// composeEnv is what compose.yaml gives the apache/kafka image.
var composeEnv = []string{
	"KAFKA_NODE_ID=1",
	"KAFKA_PROCESS_ROLES=broker,controller",
	"KAFKA_LISTENERS=INTERNAL://:29092,EXTERNAL://:9092,CONTROLLER://:9093",
	"KAFKA_ADVERTISED_LISTENERS=INTERNAL://kafka:29092,EXTERNAL://localhost:9092",
	"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
	"KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER",
	"KAFKA_INTER_BROKER_LISTENER_NAME=INTERNAL",
	"KAFKA_LOG_DIRS=/var/lib/kafka/data",
	"KAFKA_NUM_PARTITIONS=3",
	"CLUSTER_ID=5L6g3nShT-eMCtK--X86sw",
	"PATH=/usr/bin",
}

func TestParseComposeEnvironment(t *testing.T) {
	cfg, err := Parse(nil, composeEnv, io.Discard)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := []Listener{
		{Name: "INTERNAL", Bind: ":29092", AdvertisedHost: "kafka", AdvertisedPort: 29092},
		{Name: "EXTERNAL", Bind: ":9092", AdvertisedHost: "localhost", AdvertisedPort: 9092},
	}
	if len(cfg.Listeners) != len(want) {
		t.Fatalf("listeners = %+v, want %+v (controller skipped)", cfg.Listeners, want)
	}
	for i := range want {
		if cfg.Listeners[i] != want[i] {
			t.Errorf("listener %d = %+v, want %+v", i, cfg.Listeners[i], want[i])
		}
	}
	if cfg.DataDir != "/var/lib/kafka/data" || cfg.NumPartitions != 3 || !cfg.AutoCreateTopics {
		t.Errorf("data dir %q, partitions %d, auto-create %v", cfg.DataDir, cfg.NumPartitions, cfg.AutoCreateTopics)
	}
	if cfg.ClusterID != "5L6g3nShT-eMCtK--X86sw" {
		t.Errorf("cluster id = %q", cfg.ClusterID)
	}
	wantIgnored := "KAFKA_INTER_BROKER_LISTENER_NAME,KAFKA_NODE_ID,KAFKA_PROCESS_ROLES"
	if got := strings.Join(cfg.Ignored, ","); got != wantIgnored {
		t.Errorf("ignored = %s, want %s", got, wantIgnored)
	}
}

func TestParseDefaultsAndFlags(t *testing.T) {
	cfg, err := Parse(nil, nil, io.Discard)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(cfg.Listeners) != 1 || cfg.Listeners[0].Bind != DefaultListen || cfg.Listeners[0].Advertised() != DefaultListen {
		t.Errorf("default listeners = %+v, want one on %s", cfg.Listeners, DefaultListen)
	}
	if cfg.DataDir != "" {
		t.Errorf("default data dir = %q, want in memory", cfg.DataDir)
	}

	// Flags win over the environment.
	cfg, err = Parse([]string{"--listen", "127.0.0.1:19092", "--data-dir", "/tmp/x", "--partitions", "5", "--log-level", "debug"}, composeEnv, io.Discard)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(cfg.Listeners) != 1 || cfg.Listeners[0].Bind != "127.0.0.1:19092" || cfg.Listeners[0].Advertised() != "127.0.0.1:19092" {
		t.Errorf("listeners = %+v, want only 127.0.0.1:19092", cfg.Listeners)
	}
	if cfg.DataDir != "/tmp/x" || cfg.NumPartitions != 5 || cfg.LogLevel != slog.LevelDebug {
		t.Errorf("data dir %q partitions %d level %v", cfg.DataDir, cfg.NumPartitions, cfg.LogLevel)
	}

	cfg, err = Parse([]string{"--listen", ":9092", "--advertise", "broker.example:19092"}, nil, io.Discard)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := cfg.Listeners[0].Advertised(); got != "broker.example:19092" {
		t.Errorf("advertised = %s, want broker.example:19092", got)
	}
}

func TestParseListenerWithoutAdvertisedUsesHostname(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no hostname")
	}
	cfg, err := Parse(nil, []string{"KAFKA_LISTENERS=PLAINTEXT://:9092"}, io.Discard)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := cfg.Listeners[0].AdvertisedHost; got != host {
		t.Errorf("advertised host = %q, want the hostname %q, as Kafka does", got, host)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	env := []string{
		"KAFKA_LISTENERS=INTERNAL://:29092,SECURE://:9094,BROKEN",
		"KAFKA_ADVERTISED_LISTENERS=INTERNAL://kafka:notaport,OTHER://x:1",
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=INTERNAL:PLAINTEXT,SECURE:SSL",
		"KAFKA_NUM_PARTITIONS=three",
		"KAFKA_AUTO_CREATE_TOPICS_ENABLE=maybe",
	}
	_, err := Parse([]string{"--partitions", "0"}, env, io.Discard)
	if err == nil {
		t.Fatal("Parse accepted a broken configuration")
	}
	for _, want := range []string{
		"SECURE: security protocol SSL",
		`"BROKEN": want NAME://host:port`,
		"listener INTERNAL: advertised address",
		"listener OTHER is not in KAFKA_LISTENERS",
		"KAFKA_NUM_PARTITIONS=\"three\"",
		"KAFKA_AUTO_CREATE_TOPICS_ENABLE=\"maybe\"",
		"partitions 0",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

// A variable set to the empty string counts as set. Every variable is in
// this table with what its empty value does, as the README says.
func TestEmptyVariables(t *testing.T) {
	is := func(what string, ok func(Config) bool) func(Config, error) string {
		return func(c Config, err error) string {
			if err != nil || !ok(c) {
				return fmt.Sprintf("want %s, got %+v, %v", what, c, err)
			}
			return ""
		}
	}
	wantError := func(substr string) func(Config, error) string {
		return func(_ Config, err error) string {
			if err == nil || !strings.Contains(err.Error(), substr) {
				return fmt.Sprintf("want an error mentioning %q, got %v", substr, err)
			}
			return ""
		}
	}
	cases := map[string]func(Config, error) string{
		EnvLogDirs:           is("data in memory", func(c Config) bool { return c.DataDir == "" }),
		EnvClusterID:         is("kfake's cluster id", func(c Config) bool { return c.ClusterID == "" }),
		EnvAdvertised:        is("each listener advertising itself", func(c Config) bool { return c.Listeners[0].Advertised() == "127.0.0.1:19092" }),
		EnvControllerNames:   is("no listener skipped", func(c Config) bool { return len(c.Listeners) == 1 }),
		EnvSecurityMap:       is("Kafka's map: PLAINTEXT served", func(c Config) bool { return len(c.Listeners) == 1 }),
		EnvListeners:         wantError("no listener to serve"),
		EnvNumPartitions:     wantError(EnvNumPartitions + `=""`),
		EnvAutoCreateTopics:  wantError(EnvAutoCreateTopics + `=""`),
		EnvDevbrokerLogLevel: wantError(EnvDevbrokerLogLevel + `=""`),
	}
	var cfg Config
	var l listenerSettings
	for _, v := range cfg.vars(&l) {
		if v.Env == "" {
			continue
		}
		check, ok := cases[v.Env]
		if !ok {
			t.Errorf("%s= has no expectation here: say what an empty %s does", v.Env, v.Env)
			continue
		}
		environ := []string{EnvListeners + "=PLAINTEXT://127.0.0.1:19092", v.Env + "="}
		if v.Env == EnvListeners {
			environ = environ[1:]
		}
		got, err := Parse(nil, environ, io.Discard)
		if msg := check(got, err); msg != "" {
			t.Errorf("%s=: %s", v.Env, msg)
		}
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	var out strings.Builder
	if _, err := Parse([]string{"-h"}, nil, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"-listen", "-data-dir", EnvLogDirs, "env " + EnvListeners} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %s:\n%s", want, out.String())
		}
	}
}
