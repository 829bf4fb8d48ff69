// Package broker runs the devbroker: one in-process kfake broker (franz-go's
// fake Kafka, which speaks the real protocol) behind one address-rewriting
// proxy per configured listener, so that every listener advertises its own
// address as a multi-listener Kafka broker does.
//
// Lifecycle: Start binds every listener before the broker starts (a port in
// use fails fast), Close stops accepting, closes client connections, then
// closes kfake, which flushes its data directory. Nothing is acknowledged to a
// producer that kfake has not appended to its log.
package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sensorlab/sensorlab/tools/devbroker/internal/config"
	"github.com/sensorlab/sensorlab/tools/devbroker/internal/proxy"
)

// Listener is a listener as bound: Addr is the real socket address (which
// differs from the configured one when the port was 0), Advertised what its
// clients are told.
type Listener struct {
	Name       string
	Addr       string
	Advertised string
}

// Broker is a running devbroker.
type Broker struct {
	cluster   *kfake.Cluster
	listeners []Listener
	log       *slog.Logger

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	failed    chan error
	closeOnce sync.Once
}

// Start binds cfg's listeners and starts the broker.
func Start(cfg config.Config, log *slog.Logger) (*Broker, error) {
	lns := make([]net.Listener, 0, len(cfg.Listeners))
	closeAll := func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}
	for _, l := range cfg.Listeners {
		ln, err := net.Listen("tcp", l.Bind)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("listener %s: %w", l.Name, err)
		}
		lns = append(lns, ln)
	}

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(cfg.NumPartitions),
		kfake.WithLogger(kfakeLogger{log.With("component", "kfake")}),
	}
	if cfg.AutoCreateTopics {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	if cfg.ClusterID != "" {
		opts = append(opts, kfake.ClusterID(cfg.ClusterID))
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("start kfake (data dir %q): %w", cfg.DataDir, err)
	}
	upstream := cluster.ListenAddrs()[0]

	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{cluster: cluster, log: log, cancel: cancel, failed: make(chan error, len(lns))}
	for i, l := range cfg.Listeners {
		ln := lns[i]
		port := l.AdvertisedPort
		if port == 0 {
			port = int32(ln.Addr().(*net.TCPAddr).Port)
		}
		bound := Listener{
			Name:       l.Name,
			Addr:       ln.Addr().String(),
			Advertised: net.JoinHostPort(l.AdvertisedHost, strconv.Itoa(int(port))),
		}
		b.listeners = append(b.listeners, bound)
		p := proxy.New(upstream, l.AdvertisedHost, port, log.With("listener", l.Name))
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			if err := p.Serve(ctx, ln); err != nil {
				b.failed <- fmt.Errorf("listener %s: %w", l.Name, err)
			}
		}()
	}
	return b, nil
}

// Listeners returns the bound listeners, in configuration order.
func (b *Broker) Listeners() []Listener { return b.listeners }

// Failed delivers the error of a listener that stopped on its own.
func (b *Broker) Failed() <-chan error { return b.failed }

// Close stops the listeners, then the broker, flushing its data directory.
// It is safe to call more than once.
func (b *Broker) Close() {
	b.closeOnce.Do(func() {
		b.cancel()
		b.wg.Wait()
		b.cluster.Close()
	})
}

// Run starts the broker, serves until ctx is done or a listener fails, then
// shuts down. It returns the process exit code.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) int {
	for _, name := range cfg.Ignored {
		log.Debug("setting ignored", "name", name)
	}
	b, err := Start(cfg, log)
	if err != nil {
		log.Error("devbroker start failed", "err", err)
		return 1
	}
	for _, l := range b.Listeners() {
		log.Info("listener ready", "listener", l.Name, "addr", l.Addr, "advertised", l.Advertised)
	}
	log.Info("devbroker ready", "data_dir", cfg.DataDir, "partitions", cfg.NumPartitions, "auto_create_topics", cfg.AutoCreateTopics)

	code := 0
	select {
	case <-ctx.Done():
		log.Info("devbroker stopping", "reason", context.Cause(ctx).Error())
	case err := <-b.Failed():
		log.Error("listener failed", "err", err)
		code = 1
	}
	b.Close()
	log.Info("devbroker stopped")
	return code
}

// kfakeLogger sends kfake's logs to slog. kfake logs every request at its
// info level, which is debug chatter for a devbroker user.
type kfakeLogger struct{ log *slog.Logger }

func (k kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	var l slog.Level
	switch level {
	case kfake.LogLevelError:
		l = slog.LevelError
	case kfake.LogLevelWarn:
		l = slog.LevelWarn
	case kfake.LogLevelInfo:
		l = slog.LevelDebug
	default:
		l = slog.LevelDebug - 4
	}
	ctx := context.Background()
	if !k.log.Enabled(ctx, l) {
		return
	}
	k.log.Log(ctx, l, "kfake", "detail", fmt.Sprintf(format, args...))
}
