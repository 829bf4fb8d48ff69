package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// replicaServers starts a server on 127.0.0.1, 127.0.0.2 and 127.0.0.3 at
// one port, as a compose service's replicas answer at one port each on
// their own address; handler(i) is the i-th one's.
func replicaServers(t *testing.T, handler func(i int) http.Handler) (port string, servers []*httptest.Server) {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		servers = servers[:0]
		ok := true
		for i, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
			addr := ip + ":0"
			if port != "" {
				addr = net.JoinHostPort(ip, port)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				ok = false
				break
			}
			if port == "" {
				_, port, _ = net.SplitHostPort(ln.Addr().String())
			}
			s := httptest.NewUnstartedServer(handler(i))
			s.Listener.Close()
			s.Listener = ln
			s.Start()
			servers = append(servers, s)
		}
		if ok {
			for _, s := range servers {
				t.Cleanup(s.Close)
			}
			return port, servers
		}
		for _, s := range servers {
			s.Close()
		}
		port = ""
	}
	t.Skip("no port free on 127.0.0.1-3 after 20 attempts")
	return "", nil
}

// The front relays every request to the first replica, in address order,
// that accepts a connection, whatever order the name resolves in; when that
// one goes, the next answers; /replicas shows each with its readiness; with
// none left, a 502 names the replicas' host.
func TestFrontRelaysToTheFirstReplicaAlive(t *testing.T) {
	ready := []bool{true, false, true}
	port, servers := replicaServers(t, func(i int) http.Handler {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
			if !ready[i] {
				http.Error(w, "not ready: joining the group", http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "ready\n")
		})
		mux.HandleFunc("GET /progress", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "replica %d, n=%s", i, r.URL.Query().Get("n"))
		})
		return mux
	})
	var turn atomic.Int64
	lookup := func(_ context.Context, host string) ([]string, error) {
		if host != "streamer" {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		// DNS round robin: each answer in another order.
		ips := []string{"127.0.0.3", "127.0.0.1", "127.0.0.2"}
		k := int(turn.Add(1)) % 3
		return append(ips[k:], ips[:k]...), nil
	}
	f, err := newFront("streamer:"+port, lookup)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f.handler(slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()

	get := func(path string) (int, string, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get(HeaderReplica)
	}
	for range 6 {
		code, body, by := get("/progress?n=2")
		if code != 200 || body != "replica 0, n=2" || by != "127.0.0.1:"+port {
			t.Fatalf("/progress: %d %q from %q, want replica 0's answer from 127.0.0.1:%s", code, body, by, port)
		}
	}
	var reps []Replica
	_, body, _ := get("/replicas")
	if err := json.Unmarshal([]byte(body), &reps); err != nil {
		t.Fatalf("/replicas: %v: %s", err, body)
	}
	if len(reps) != 3 || reps[0].Addr != "127.0.0.1:"+port || !reps[0].Ready || !reps[0].Serving ||
		reps[1].Ready || !strings.Contains(reps[1].Status, "joining the group") || reps[1].Serving || !reps[2].Ready {
		t.Fatalf("/replicas: %+v", reps)
	}

	servers[0].Close()
	if code, body, by := get("/progress"); code != 200 || body != "replica 1, n=" || by != "127.0.0.2:"+port {
		t.Fatalf("replica 0 gone: %d %q from %q, want replica 1's answer", code, body, by)
	}
	_, body, _ = get("/replicas")
	reps = nil
	if err := json.Unmarshal([]byte(body), &reps); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(reps[0].Status, "unreachable") || reps[0].Serving || !reps[1].Serving {
		t.Fatalf("/replicas with replica 0 gone: %+v", reps)
	}

	servers[1].Close()
	servers[2].Close()
	if code, body, _ := get("/progress"); code != http.StatusBadGateway || !strings.Contains(body, "no replica of streamer accepts a connection") {
		t.Fatalf("no replica left: %d %q, want 502 naming the replicas", code, body)
	}
	f.host = "nowhere"
	if code, body, _ := get("/readyz"); code != http.StatusBadGateway || !strings.Contains(body, "nowhere does not resolve") {
		t.Fatalf("a name that does not resolve: %d %q", code, body)
	}
}
