package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sensorlab/sensorlab/tools/devbroker/internal/config"
)

// The advertised addresses are names no resolver knows: a client reaches the
// broker only through the test dialer, which maps each listener's advertised
// address to its real socket. A client told the wrong listener's address
// would dial a name the dialer refuses.
const (
	internalAdv = "kafka.devbroker.test:29092"
	externalAdv = "localhost.devbroker.test:9092"
)

func testConfig(_ testing.TB, dataDir string) config.Config {
	cfg := config.Default()
	cfg.Listeners = []config.Listener{
		{Name: "INTERNAL", Bind: "127.0.0.1:0", AdvertisedHost: "kafka.devbroker.test", AdvertisedPort: 29092},
		{Name: "EXTERNAL", Bind: "127.0.0.1:0", AdvertisedHost: "localhost.devbroker.test", AdvertisedPort: 9092},
	}
	cfg.NumPartitions = 3
	cfg.DataDir = dataDir
	return cfg
}

func start(t *testing.T, cfg config.Config) *Broker {
	t.Helper()
	b, err := Start(cfg, discard())
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func listener(t *testing.T, b *Broker, name string) Listener {
	t.Helper()
	for _, l := range b.Listeners() {
		if l.Name == name {
			return l
		}
	}
	t.Fatalf("no listener %s in %+v", name, b.Listeners())
	return Listener{}
}

// dials records the addresses a client dialed.
type dials struct {
	mu   sync.Mutex
	seen []string
}

func (d *dials) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.seen)
}

// client returns a franz-go client that knows only listener l: it bootstraps
// from l's advertised address and can dial nothing else.
func client(t *testing.T, l Listener, d *dials, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	var nd net.Dialer
	opts = append([]kgo.Opt{
		kgo.SeedBrokers(l.Advertised),
		// Ask for auto-creation, as the services do; the broker decides.
		kgo.AllowAutoTopicCreation(),
		kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
			if d != nil {
				d.mu.Lock()
				d.seen = append(d.seen, host)
				d.mu.Unlock()
			}
			if host != l.Advertised {
				return nil, fmt.Errorf("client of listener %s dialed %s, not its advertised %s", l.Name, host, l.Advertised)
			}
			return nd.DialContext(ctx, network, l.Addr)
		}),
	}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func testCtx(t *testing.T) context.Context {
	// A bound so that a broken broker fails the test instead of hanging it.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func produce(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, values ...string) {
	t.Helper()
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(v), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %q: %v", v, err)
		}
	}
}

// consume polls until n records arrived and returns their values, sorted
// (records of different partitions arrive in no fixed order).
func consume(ctx context.Context, t *testing.T, cl *kgo.Client, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records (%q): %v", len(got), n, got, err)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	slices.Sort(got)
	return got
}

func TestEachListenerAdvertisesItsOwnAddress(t *testing.T) {
	b := start(t, testConfig(t, ""))
	ctx := testCtx(t)
	for _, name := range []string{"INTERNAL", "EXTERNAL"} {
		l := listener(t, b, name)
		for _, tc := range []struct {
			name string
			opts []kgo.Opt
		}{
			{"latest", nil},
			// Kafka 0.11 protocol versions: non-flexible headers and bodies.
			{"v0.11", []kgo.Opt{kgo.MaxVersions(kversion.V0_11_0())}},
		} {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				var d dials
				cl := client(t, l, &d, tc.opts...)

				meta := kmsg.NewPtrMetadataRequest()
				mresp, err := meta.RequestWith(ctx, cl)
				if err != nil {
					t.Fatalf("Metadata: %v", err)
				}
				if len(mresp.Brokers) != 1 || net.JoinHostPort(mresp.Brokers[0].Host, fmt.Sprint(mresp.Brokers[0].Port)) != l.Advertised {
					t.Errorf("Metadata brokers = %+v, want only %s", mresp.Brokers, l.Advertised)
				}

				fc := kmsg.NewPtrFindCoordinatorRequest()
				fc.CoordinatorKey = "some-group"
				fc.CoordinatorKeys = []string{"some-group"}
				fresp, err := fc.RequestWith(ctx, cl)
				if err != nil {
					t.Fatalf("FindCoordinator: %v", err)
				}
				host, port := fresp.Host, fresp.Port
				if len(fresp.Coordinators) > 0 {
					host, port = fresp.Coordinators[0].Host, fresp.Coordinators[0].Port
				}
				if got := net.JoinHostPort(host, fmt.Sprint(port)); got != l.Advertised {
					t.Errorf("FindCoordinator = %s, want %s", got, l.Advertised)
				}
				for _, h := range d.list() {
					if h != l.Advertised {
						t.Errorf("client dialed %s", h)
					}
				}
			})
		}
		t.Run(name+"/DescribeCluster", func(t *testing.T) {
			cl := client(t, l, nil)
			dc := kmsg.NewPtrDescribeClusterRequest()
			resp, err := dc.RequestWith(ctx, cl)
			if err != nil {
				t.Fatalf("DescribeCluster: %v", err)
			}
			if len(resp.Brokers) != 1 || net.JoinHostPort(resp.Brokers[0].Host, fmt.Sprint(resp.Brokers[0].Port)) != l.Advertised {
				t.Errorf("DescribeCluster brokers = %+v, want only %s", resp.Brokers, l.Advertised)
			}
		})
	}
}

func TestProduceAndConsumeAcrossListeners(t *testing.T) {
	b := start(t, testConfig(t, ""))
	ctx := testCtx(t)
	in, ex := listener(t, b, "INTERNAL"), listener(t, b, "EXTERNAL")

	// Produced through one listener, consumed through the other: one broker.
	produce(ctx, t, client(t, in, nil), "from-internal", "a", "b", "c")
	produce(ctx, t, client(t, ex, nil), "from-external", "x", "y")

	got := consume(ctx, t, client(t, ex, nil, kgo.ConsumeTopics("from-internal")), 3)
	if !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("external consumer got %q", got)
	}
	got = consume(ctx, t, client(t, in, nil, kgo.ConsumeTopics("from-external")), 2)
	if !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("internal consumer got %q", got)
	}

	// Auto-created topics get KAFKA_NUM_PARTITIONS partitions.
	topics, err := kadm.NewClient(client(t, ex, nil)).ListTopics(ctx, "from-internal")
	if err != nil {
		t.Fatalf("ListTopics: %v", err)
	}
	if n := len(topics["from-internal"].Partitions); n != 3 {
		t.Errorf("auto-created topic has %d partitions, want 3", n)
	}
}

func TestTransactionsAndConsumerGroupsThroughAListener(t *testing.T) {
	b := start(t, testConfig(t, ""))
	ctx := testCtx(t)
	in, ex := listener(t, b, "INTERNAL"), listener(t, b, "EXTERNAL")
	const topic = "txn"

	txn := client(t, ex, nil, kgo.TransactionalID("devbroker-test"), kgo.DefaultProduceTopic(topic))
	for _, tc := range []struct {
		values []string
		commit kgo.TransactionEndTry
	}{
		{[]string{"committed-1", "committed-2"}, kgo.TryCommit},
		{[]string{"aborted"}, kgo.TryAbort},
	} {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatalf("BeginTransaction: %v", err)
		}
		for _, v := range tc.values {
			if err := txn.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
				t.Fatalf("produce in transaction: %v", err)
			}
		}
		if err := txn.EndTransaction(ctx, tc.commit); err != nil {
			t.Fatalf("EndTransaction(%v): %v", tc.commit, err)
		}
	}

	groupOpts := []kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumerGroup("devbroker-test-group"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
	}
	first := client(t, in, nil, groupOpts...)
	if got := consume(ctx, t, first, 2); !slices.Equal(got, []string{"committed-1", "committed-2"}) {
		t.Fatalf("read-committed group consumer got %q, want only the committed records", got)
	}
	if err := first.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit offsets: %v", err)
	}
	first.Close()

	// A later member of the same group resumes after the committed offsets.
	produce(ctx, t, client(t, ex, nil), topic, "after-commit")
	second := client(t, in, nil, groupOpts...)
	if got := consume(ctx, t, second, 1); !slices.Equal(got, []string{"after-commit"}) {
		t.Errorf("second group member got %q, want only the record after the commit", got)
	}
}

func TestDataPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t)
	values := []string{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"}

	b := start(t, testConfig(t, dir))
	produce(ctx, t, client(t, listener(t, b, "EXTERNAL"), nil), "durable", values...)
	b.Close()

	b = start(t, testConfig(t, dir))
	got := consume(ctx, t, client(t, listener(t, b, "INTERNAL"), nil, kgo.ConsumeTopics("durable")), len(values))
	if !slices.Equal(got, values) {
		t.Errorf("after restart got %q, want %q", got, values)
	}
}

func TestAutoCreateDisabledRefusesUnknownTopics(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.AutoCreateTopics = false
	b := start(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cl := client(t, listener(t, b, "EXTERNAL"), nil, kgo.RecordDeliveryTimeout(2*time.Second))
	err := cl.ProduceSync(ctx, &kgo.Record{Topic: "never-created", Value: []byte("v")}).FirstErr()
	if err == nil {
		t.Fatal("produce to an unknown topic succeeded with KAFKA_AUTO_CREATE_TOPICS_ENABLE=false")
	}
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		t.Fatalf("produce hung instead of failing: %v", err)
	}
}

func TestNonKafkaBytesCloseTheConnection(t *testing.T) {
	b := start(t, testConfig(t, ""))
	conn, err := net.Dial("tcp", listener(t, b, "EXTERNAL").Addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
	if n, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("read after an HTTP request = %d, %v; want the connection closed", n, err)
	}
}
