// Package app wires the producer: the franz-go client (idempotent, acks=all,
// bounded buffer), topic creation through kadm, the generator, rate limiting,
// progress logging and the /healthz and /readyz endpoints.
//
// Invariants:
//   - A record is counted "sent" only when the broker acknowledged it (produce
//     promise without error) and "errors" when it failed; nothing else moves
//     either counter. Every generated record ends up in exactly one of the
//     two once Run returns.
//   - A stop (ctx cancelled) ends generation; what was generated is then
//     flushed, for at most Config.ShutdownTimeout, after which the rest is
//     failed and counted as errors.
//   - Broker outages block the producer (unlimited retries, idempotence keep
//     order and avoid duplicates); memory stays bounded by MaxBufferedRecords.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
	"golang.org/x/time/rate"

	"github.com/sensorlab/sensorlab/services/producer/internal/config"
	"github.com/sensorlab/sensorlab/services/producer/internal/gen"
)

// Stats are the producer's counters.
type Stats struct {
	Generated  int64 // records handed to the client
	Sent       int64 // records the broker acknowledged
	Errors     int64 // records that failed
	Late       int64 // generated late readings
	Duplicates int64 // generated duplicates
	Invalid    int64 // generated malformed records
}

// App is one producer run. Build it with New, then call Run once.
type App struct {
	cfg    config.Config
	log    *slog.Logger
	cl     *kgo.Client
	adm    *kadm.Client
	ln     net.Listener // nil when HTTP is disabled
	now    func() time.Time
	errLog rate.Sometimes
	closed sync.Once

	generated, sent, errs, late, dups, invalid atomic.Int64
	rate                                       atomic.Uint64 // send rate, float64 bits: /metrics' send_rate
	topicReady                                 atomic.Bool
	inFlight                                   sync.WaitGroup // records whose promise has not run yet
}

// New builds the client and binds the HTTP listener (an address in use is
// an error); it does not contact the broker yet.
func New(cfg config.Config, log *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("sensorlab-producer"),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // the default, stated: idempotence needs it
		kgo.MaxBufferedRecords(cfg.MaxBufferedRecords),
		kgo.WithLogger(kslog.New(log.With("component", "kgo"))),
	)
	if err != nil {
		return nil, fmt.Errorf("kafka client for %v: %w", cfg.Brokers, err)
	}
	a := &App{
		cfg:    cfg,
		log:    log,
		cl:     cl,
		adm:    kadm.NewClient(cl),
		now:    time.Now,
		errLog: rate.Sometimes{First: 5, Interval: 10 * time.Second},
	}
	if cfg.HTTPAddr != "" {
		if a.ln, err = listen(cfg.HTTPAddr); err != nil {
			cl.Close()
			return nil, err
		}
	}
	return a, nil
}

// Main runs the command cfg names and returns the process exit code: 0 when
// it is done or stopped cleanly, 1 when it failed (an HTTP address that
// cannot be bound included: the producer then does not start).
func Main(ctx context.Context, cfg config.Config, log *slog.Logger) int {
	if cfg.Command == config.CommandHealthcheck {
		if err := Healthcheck(ctx, cfg.Healthcheck); err != nil {
			log.Error("unhealthy", "err", err)
			return 1
		}
		return 0
	}
	if err := Run(ctx, cfg, log); err != nil {
		log.Error("producer failed", "err", err)
		return 1
	}
	return 0
}

// Run builds an App and runs it.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	a, err := New(cfg, log)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// HTTPAddr is the address /healthz and /readyz listen on, or "" when disabled.
func (a *App) HTTPAddr() string {
	if a.ln == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// Stats returns the current counters.
func (a *App) Stats() Stats {
	return Stats{
		Generated: a.generated.Load(), Sent: a.sent.Load(), Errors: a.errs.Load(),
		Late: a.late.Load(), Duplicates: a.dups.Load(), Invalid: a.invalid.Load(),
	}
}

// Run creates the topic if missing, produces until Count records or ctx is
// cancelled, flushes and closes the client. It returns an error when records
// were not acknowledged or the topic could not be ensured.
func (a *App) Run(ctx context.Context) error {
	defer a.closeClient()
	seed := a.cfg.Seed
	if !a.cfg.SeedSet {
		seed = rand.Uint64()
	}
	a.log.Info("producer starting", "config", a.cfg, "seed", seed, "http_addr", a.HTTPAddr())

	if a.ln != nil {
		srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
		served := make(chan struct{})
		go func() {
			defer close(served)
			if err := srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("http server failed", "err", err)
			}
		}()
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx) // a slow probe is cut off; nothing to report
			<-served
		}()
	}

	if err := a.ensureTopic(ctx); err != nil {
		if ctx.Err() != nil {
			a.log.Info("producer stopped before the topic was ready")
			return nil
		}
		return err
	}

	g, backfill, err := a.generator(seed)
	if err != nil {
		return err
	}
	started := a.now()
	done := make(chan struct{})
	defer close(done)
	go a.progressLoop(done)

	// Records are produced under prodCtx, not ctx: a stop signal must not fail
	// what is already buffered. prodCtx ends ShutdownTimeout after the stop.
	prodCtx, cancelProd := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelProd()
	flushed := make(chan struct{})
	go func() {
		select {
		case <-flushed:
			return
		case <-ctx.Done():
		}
		t := time.NewTimer(a.cfg.ShutdownTimeout)
		defer t.Stop()
		select {
		case <-flushed:
		case <-t.C:
			a.log.Warn("shutdown timeout: failing unacknowledged records", "buffered", a.cl.BufferedProduceRecords())
			cancelProd()
		}
	}()

	a.produce(ctx, prodCtx, g, backfill)
	if ctx.Err() != nil {
		a.log.Info("stop requested: flushing", "buffered", a.cl.BufferedProduceRecords())
	}
	ferr := a.cl.Flush(prodCtx)
	close(flushed)
	if ferr != nil {
		// Close fails whatever is still buffered; its promises then count it.
		a.closeClient()
	}
	a.inFlight.Wait()

	st := a.Stats()
	elapsed := a.now().Sub(started)
	a.rate.Store(math.Float64bits(perSecond(st.Sent, elapsed)))
	a.log.Info("producer finished",
		"sent", st.Sent, "errors", st.Errors, "generated", st.Generated,
		"late", st.Late, "duplicates", st.Duplicates, "invalid", st.Invalid,
		"elapsed", elapsed.String(), "rate", perSecond(st.Sent, elapsed), "stopped", ctx.Err() != nil)
	if st.Errors > 0 || st.Sent != st.Generated {
		return fmt.Errorf("%d of %d records not acknowledged (%d failed)", st.Generated-st.Sent, st.Generated, st.Errors)
	}
	return nil
}

// generator builds the record generator and says how many leading records
// are backfill (produced without rate limit).
func (a *App) generator(seed uint64) (*gen.Generator, int64, error) {
	gc := gen.Config{
		Seed:              seed,
		Sensors:           a.cfg.Sensors,
		Step:              a.cfg.Step,
		LateFraction:      a.cfg.LateFraction,
		LateBy:            a.cfg.LateBy,
		DuplicateFraction: a.cfg.DuplicateFraction,
		InvalidFraction:   a.cfg.InvalidFraction,
		Now:               func() int64 { return a.now().UnixMilli() },
	}
	var backfill int64
	if !a.cfg.StartTime.IsZero() {
		gc.StartMs, gc.Scheduled = a.cfg.StartTime.UnixMilli(), -1
	} else {
		// The D before now, in Step increments: ceil(D/Step) records, all before now.
		backfill = int64((a.cfg.Backfill + a.cfg.Step - 1) / a.cfg.Step)
		gc.StartMs, gc.Scheduled = a.now().Add(-a.cfg.Backfill).UnixMilli(), backfill
	}
	g, err := gen.New(gc)
	if err != nil {
		return nil, 0, fmt.Errorf("generator: %w", err)
	}
	return g, backfill, nil
}

// produce generates and hands records to the client until Count or a stop.
func (a *App) produce(ctx, prodCtx context.Context, g *gen.Generator, backfill int64) {
	var lim *rate.Limiter // nil: as fast as possible
	if a.cfg.Rate > 0 {
		// A burst of 10ms worth of records absorbs scheduler jitter at high
		// rates without bunching records at low ones.
		lim = rate.NewLimiter(rate.Limit(a.cfg.Rate), max(1, int(a.cfg.Rate/100)))
	}
	var recs []kgo.Record // allocated in chunks: one allocation per many records
	promise := a.promise  // a method value allocates: take it once
	if backfill > 0 {
		a.log.Info("backfill starting", "records", backfill, "span", a.cfg.Backfill.String())
	}
	for a.cfg.Count == 0 || g.Generated() < a.cfg.Count {
		if ctx.Err() != nil {
			return
		}
		i := g.Generated()
		if i == backfill && backfill > 0 {
			a.log.Info("backfill done: producing in real time", "records", backfill)
		}
		if lim != nil && i >= backfill {
			if err := lim.Wait(ctx); err != nil {
				return // stopped while waiting for a token
			}
		}
		rec := g.Next()
		switch rec.Kind {
		case gen.KindLate:
			a.late.Add(1)
		case gen.KindDuplicate:
			a.dups.Add(1)
		case gen.KindInvalid:
			a.invalid.Add(1)
		}
		a.generated.Add(1)
		a.inFlight.Add(1)
		if len(recs) == 0 {
			recs = make([]kgo.Record, 1024)
		}
		kr := &recs[0]
		recs = recs[1:]
		kr.Key, kr.Value = rec.Key, rec.Value
		if !a.cfg.KeyBySensor {
			kr.Key = nil
		}
		a.cl.Produce(prodCtx, kr, promise)
	}
}

// closeClient closes the client once; closing fails what is still buffered.
func (a *App) closeClient() { a.closed.Do(a.cl.Close) }

// promise counts one produce outcome. It runs on franz-go's promise goroutine
// and must not block.
func (a *App) promise(r *kgo.Record, err error) {
	defer a.inFlight.Done()
	if err == nil {
		a.sent.Add(1)
		return
	}
	a.errs.Add(1)
	a.errLog.Do(func() {
		a.log.Warn("produce failed", "err", err, "sensor_id", string(r.Key), "partition", r.Partition)
	})
}

func (a *App) progressLoop(done <-chan struct{}) {
	t := time.NewTicker(a.cfg.Progress)
	defer t.Stop()
	last, lastAt := int64(0), a.now()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			st, at := a.Stats(), a.now()
			r := perSecond(st.Sent-last, at.Sub(lastAt))
			a.rate.Store(math.Float64bits(r))
			a.log.Info("progress", "sent", st.Sent, "errors", st.Errors, "rate", r, "buffered", a.cl.BufferedProduceRecords())
			last, lastAt = st.Sent, at
		}
	}
}

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(int64(float64(n)/d.Seconds()*10)) / 10
}

// ensureTopic creates the topic with Partitions partitions and replication 1
// if it is missing, retrying while the broker is unreachable.
func (a *App) ensureTopic(ctx context.Context) error {
	op := func() (struct{}, error) {
		resp, err := a.adm.CreateTopic(ctx, int32(a.cfg.Partitions), 1, nil, a.cfg.Topic)
		switch {
		case err == nil:
			a.log.Info("topic created", "topic", a.cfg.Topic, "partitions", resp.NumPartitions)
			return struct{}{}, nil
		case errors.Is(err, kerr.TopicAlreadyExists):
			return struct{}{}, a.checkExisting(ctx)
		case isPermanent(err):
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}
	eb := backoff.NewExponentialBackOff()
	eb.MaxInterval = 5 * time.Second
	_, err := backoff.Retry(ctx, op,
		backoff.WithBackOff(eb),
		backoff.WithMaxElapsedTime(0), // until the broker answers or we are stopped
		backoff.WithNotify(func(err error, next time.Duration) {
			a.log.Warn("topic not ready, retrying", "topic", a.cfg.Topic, "err", err, "retry_in", next.String())
		}))
	if err != nil {
		return fmt.Errorf("ensure topic %q: %w", a.cfg.Topic, err)
	}
	a.topicReady.Store(true)
	return nil
}

func (a *App) checkExisting(ctx context.Context) error {
	tds, err := a.adm.ListTopics(ctx, a.cfg.Topic)
	if err != nil {
		return fmt.Errorf("describe topic: %w", err)
	}
	td := tds[a.cfg.Topic]
	if td.Err != nil {
		return fmt.Errorf("describe topic: %w", td.Err)
	}
	if n := len(td.Partitions); n != a.cfg.Partitions {
		a.log.Warn("topic exists with a different partition count", "topic", a.cfg.Topic, "partitions", n, "wanted", a.cfg.Partitions)
	} else {
		a.log.Info("topic exists", "topic", a.cfg.Topic, "partitions", n)
	}
	return nil
}

// isPermanent reports Kafka errors that retrying cannot fix (bad topic name,
// policy, authorization).
func isPermanent(err error) bool {
	ke, ok := errors.AsType[*kerr.Error](err)
	return ok && !ke.Retriable
}
