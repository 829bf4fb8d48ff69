package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sensorlab/sensorlab/services/streamer/internal/config"
)

// HeaderReplica names, on every answer the front relays, the replica that
// gave it (its address).
const HeaderReplica = "X-Sensorlab-Replica"

// RunFront serves cfg.HTTPAddr in front of a query's replicas until ctx
// ends: `streamer front`, which gives the replicas of a scaled compose
// service one published port. Each request goes to the first replica, in
// address order, that accepts a connection, so the page stays on one
// replica while it runs and moves to another when it goes; every replica's
// page shows the whole query's partitions (/group). /replicas, answered by
// the front itself, lists every replica and whether it is ready.
func RunFront(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	ln, err := listen(cfg.HTTPAddr)
	if err != nil {
		return err
	}
	f, err := newFront(cfg.Front.Replicas, net.DefaultResolver.LookupHost)
	if err != nil {
		ln.Close()
		return err
	}
	log.Info("front of the replicas", "replicas", cfg.Front.Replicas)
	stop := serveHTTP(ln, f.handler(log), log)
	<-ctx.Done()
	stop()
	return nil
}

// front relays HTTP to the replicas a host name resolves to.
type front struct {
	host, port string
	lookup     func(ctx context.Context, host string) ([]string, error)
	dialer     net.Dialer
	client     *http.Client // the front's own requests: /replicas
}

func newFront(replicas string, lookup func(context.Context, string) ([]string, error)) (*front, error) {
	host, port, err := net.SplitHostPort(replicas)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("front: replicas %q: want host:port", replicas)
	}
	return &front{host: host, port: port, lookup: lookup, dialer: net.Dialer{Timeout: 2 * time.Second},
		client: &http.Client{Timeout: 3 * time.Second}}, nil
}

// addrs returns the replicas' addresses, in address order (the order a
// resolver gives is not stable: compose's DNS rotates it).
func (f *front) addrs(ctx context.Context) ([]string, error) {
	hosts, err := f.lookup(ctx, f.host)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(hosts, func(a, b string) int {
		x, errA := netip.ParseAddr(a)
		y, errB := netip.ParseAddr(b)
		if errA != nil || errB != nil {
			return strings.Compare(a, b)
		}
		return x.Compare(y)
	})
	hosts = slices.Compact(hosts)
	addrs := make([]string, len(hosts))
	for i, h := range hosts {
		addrs[i] = net.JoinHostPort(h, f.port)
	}
	return addrs, nil
}

// dial connects to the first replica that accepts a connection.
func (f *front) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	addrs, err := f.addrs(ctx)
	if err != nil {
		return nil, fmt.Errorf("no replica: %s does not resolve: %w", f.host, err)
	}
	var errs []error
	for _, a := range addrs {
		c, err := f.dialer.DialContext(ctx, network, a)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("no replica: %s resolves to no address", f.host)
	}
	return nil, fmt.Errorf("no replica of %s accepts a connection: %w", f.host, errors.Join(errs...))
}

type servedBy struct{}

func (f *front) handler(log *slog.Logger) http.Handler {
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: "http", Host: net.JoinHostPort(f.host, f.port)})
			r.SetXForwarded()
			var by atomic.Value
			ctx := context.WithValue(r.Out.Context(), servedBy{}, &by)
			ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
				by.Store(i.Conn.RemoteAddr().String())
			}})
			r.Out = r.Out.WithContext(ctx)
		},
		// A connection per request: each one goes to the first replica
		// alive, not to one a kept-alive connection still points at.
		Transport: &http.Transport{DialContext: f.dial, DisableKeepAlives: true},
		ModifyResponse: func(resp *http.Response) error {
			if by, ok := resp.Request.Context().Value(servedBy{}).(*atomic.Value); ok {
				if addr, ok := by.Load().(string); ok {
					resp.Header.Set(HeaderReplica, addr)
				}
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Warn("front: no replica answered", "path", r.URL.Path, "err", err)
			http.Error(w, err.Error(), http.StatusBadGateway)
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /replicas", func(w http.ResponseWriter, r *http.Request) {
		reps, err := f.replicas(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		writeJSON(w, reps)
	})
	mux.Handle("/", proxy)
	return mux
}

// Replica is one replica as the front's /replicas shows it.
type Replica struct {
	Addr string `json:"addr"`
	// Ready is its /readyz answer; Status the reason when it is not ready.
	Ready  bool   `json:"ready"`
	Status string `json:"status,omitempty"`
	// Serving says whether the front relays to this one now.
	Serving bool `json:"serving"`
}

// replicas asks every replica's /readyz at once.
func (f *front) replicas(ctx context.Context) ([]Replica, error) {
	addrs, err := f.addrs(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s does not resolve: %w", f.host, err)
	}
	reps := make([]Replica, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		reps[i].Addr = a
		wg.Go(func() {
			reps[i].Ready, reps[i].Status = f.ready(ctx, a)
		})
	}
	wg.Wait()
	// The front relays to the first that accepts a connection: the first
	// that answered at all.
	for i := range reps {
		if !strings.HasPrefix(reps[i].Status, "unreachable") {
			reps[i].Serving = true
			break
		}
	}
	return reps, nil
}

func (f *front) ready(ctx context.Context, addr string) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return false, "unreachable: " + err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return true, ""
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return false, cmp.Or(strings.TrimSpace(string(body)), resp.Status)
}
