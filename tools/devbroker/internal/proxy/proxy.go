// Package proxy serves Kafka clients on one listener in front of an upstream
// broker and makes the broker advertise that listener's own address.
//
// kfake advertises the single address it listens on. Kafka gives each listener
// its own advertised address (in-network clients get kafka:29092, host clients
// localhost:9092), so the devbroker puts one Proxy per listener in front of one
// kfake broker. A Proxy forwards every byte unchanged except the responses that
// carry a broker address: Metadata, FindCoordinator, DescribeCluster,
// ShareFetch and ShareAcknowledge. Those it decodes with kmsg, points every
// broker entry at the listener's advertised host and port, and re-encodes.
//
// Invariants: the upstream is a single broker (so every broker entry is that
// broker); requests on one connection are forwarded in order and each response
// is matched to its request by correlation id, which is how the Proxy knows the
// api key and version of the response it reads. Produce and Fetch responses
// can also carry broker entries (KIP-951), but kfake adds them only when a
// partition's leader moved, which never happens with one broker, so those
// responses are forwarded as they are.
package proxy

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// MaxFrame bounds the size of one request or response. Kafka's default
// socket.request.max.bytes is 100 MiB; anything larger is not Kafka (an HTTP
// request on a Kafka port reads as a 1 GiB frame) and closes the connection.
const MaxFrame = 256 << 20

// ErrBadFrame reports bytes that are not a Kafka frame.
var ErrBadFrame = errors.New("not a kafka frame")

// rewritten are the api keys whose responses carry broker addresses.
var rewritten = map[int16]bool{
	kmsg.Metadata.Int16():         true,
	kmsg.FindCoordinator.Int16():  true,
	kmsg.DescribeCluster.Int16():  true,
	kmsg.ShareFetch.Int16():       true,
	kmsg.ShareAcknowledge.Int16(): true,
}

// Proxy forwards Kafka connections from one listener to the upstream broker.
type Proxy struct {
	upstream string
	host     string
	port     int32
	log      *slog.Logger
	dialer   net.Dialer

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// New returns a Proxy to upstream (host:port) whose clients see the broker at
// advHost:advPort.
func New(upstream, advHost string, advPort int32, log *slog.Logger) *Proxy {
	return &Proxy{
		upstream: upstream,
		host:     advHost,
		port:     advPort,
		log:      log,
		conns:    map[net.Conn]struct{}{},
	}
}

// Serve accepts clients on ln until ctx is done or ln fails. It then closes ln
// and every connection it opened, and returns once they are all finished. It
// returns nil when ctx ended it.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			_ = ln.Close()
			p.closeAll()
			p.wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(ctx, c)
		}()
	}
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil // track refuses from now on
}

// inflight maps the correlation id of a forwarded request whose response
// must be rewritten to that request's api key and version.
type inflight struct {
	mu sync.Mutex
	m  map[int32]apiVersion
}

type apiVersion struct{ key, version int16 }

func (f *inflight) put(corr int32, av apiVersion) {
	f.mu.Lock()
	f.m[corr] = av
	f.mu.Unlock()
}

func (f *inflight) take(corr int32) (apiVersion, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	av, ok := f.m[corr]
	if ok {
		delete(f.m, corr)
	}
	return av, ok
}

func (p *Proxy) handle(ctx context.Context, client net.Conn) {
	if !p.track(client) {
		_ = client.Close()
		return
	}
	defer p.untrack(client)
	defer client.Close()

	up, err := p.dialer.DialContext(ctx, "tcp", p.upstream)
	if err != nil {
		p.log.Warn("upstream dial failed", "upstream", p.upstream, "client", client.RemoteAddr().String(), "err", err)
		return
	}
	if !p.track(up) {
		_ = up.Close()
		return
	}
	defer p.untrack(up)
	defer up.Close()

	f := &inflight{m: map[int32]apiVersion{}}
	errc := make(chan error, 2)
	go func() { errc <- p.requests(client, up, f) }()
	go func() { errc <- p.responses(up, client, f) }()
	err = <-errc
	// Either side ending ends the connection, as a broker would.
	_ = client.Close()
	_ = up.Close()
	<-errc
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		p.log.Debug("connection closed", "client", client.RemoteAddr().String(), "err", err)
	}
}

// requests copies client requests to the upstream, noting those whose
// responses carry broker addresses.
func (p *Proxy) requests(client, up net.Conn, f *inflight) error {
	r := bufio.NewReaderSize(client, 64<<10)
	var hdr [12]byte // size, api key, api version, correlation id
	for {
		if _, err := io.ReadFull(r, hdr[:4]); err != nil {
			return fmt.Errorf("read request: %w", err)
		}
		size := int32(binary.BigEndian.Uint32(hdr[:4]))
		if size < 8 || size > MaxFrame {
			return fmt.Errorf("request of %d bytes: %w", size, ErrBadFrame)
		}
		if _, err := io.ReadFull(r, hdr[4:]); err != nil {
			return fmt.Errorf("read request header: %w", err)
		}
		key := int16(binary.BigEndian.Uint16(hdr[4:6]))
		if rewritten[key] {
			version := int16(binary.BigEndian.Uint16(hdr[6:8]))
			corr := int32(binary.BigEndian.Uint32(hdr[8:12]))
			f.put(corr, apiVersion{key, version})
		}
		if _, err := up.Write(hdr[:]); err != nil {
			return fmt.Errorf("forward request: %w", err)
		}
		if _, err := io.CopyN(up, r, int64(size-8)); err != nil {
			return fmt.Errorf("forward request: %w", err)
		}
	}
}

// responses copies upstream responses to the client, rewriting those that
// carry broker addresses.
func (p *Proxy) responses(up, client net.Conn, f *inflight) error {
	r := bufio.NewReaderSize(up, 64<<10)
	var hdr [8]byte // size, correlation id
	var buf []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return fmt.Errorf("read response: %w", err)
		}
		size := int32(binary.BigEndian.Uint32(hdr[:4]))
		if size < 4 || size > MaxFrame {
			return fmt.Errorf("response of %d bytes: %w", size, ErrBadFrame)
		}
		corr := int32(binary.BigEndian.Uint32(hdr[4:8]))
		av, ok := f.take(corr)
		if !ok {
			if _, err := client.Write(hdr[:]); err != nil {
				return fmt.Errorf("forward response: %w", err)
			}
			if _, err := io.CopyN(client, r, int64(size-4)); err != nil {
				return fmt.Errorf("forward response: %w", err)
			}
			continue
		}
		if cap(buf) < int(size) {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		copy(buf, hdr[4:])
		if _, err := io.ReadFull(r, buf[4:]); err != nil {
			return fmt.Errorf("read response: %w", err)
		}
		out, err := Rewrite(av.key, av.version, buf, p.host, p.port)
		if err != nil {
			return fmt.Errorf("rewrite %s v%d response: %w", kmsg.NameForKey(av.key), av.version, err)
		}
		if _, err := client.Write(out); err != nil {
			return fmt.Errorf("forward response: %w", err)
		}
	}
}

// Rewrite decodes resp (a response frame without its size prefix: correlation
// id, header tags if flexible, body) of the given api key and version, points
// every broker entry at host:port, and returns the new frame with its size
// prefix. Keys without broker entries are returned re-encoded unchanged.
func Rewrite(key, version int16, resp []byte, host string, port int32) ([]byte, error) {
	req := kmsg.RequestForKey(key)
	if req == nil {
		return nil, fmt.Errorf("unknown api key %d", key)
	}
	req.SetVersion(version)
	hdrLen := 4
	// Flexible responses have a tag section after the correlation id, except
	// ApiVersions, whose response header is always v0.
	if req.IsFlexible() && key != kmsg.ApiVersions.Int16() {
		n, err := tagSectionLen(resp[4:])
		if err != nil {
			return nil, fmt.Errorf("response header: %w", err)
		}
		hdrLen += n
	}
	if len(resp) < hdrLen {
		return nil, fmt.Errorf("response of %d bytes: %w", len(resp), ErrBadFrame)
	}
	kresp := req.ResponseKind()
	kresp.SetVersion(version)
	if err := kresp.ReadFrom(resp[hdrLen:]); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	advertise(kresp, host, port)

	out := make([]byte, 4, 4+len(resp)+64)
	out = append(out, resp[:hdrLen]...)
	out = kresp.AppendTo(out)
	binary.BigEndian.PutUint32(out[:4], uint32(len(out)-4))
	return out, nil
}

// advertise points every broker entry of resp at host:port. Entries that
// name no broker (node id -1, as in a failed FindCoordinator) are left alone.
func advertise(resp kmsg.Response, host string, port int32) {
	switch r := resp.(type) {
	case *kmsg.MetadataResponse:
		for i := range r.Brokers {
			r.Brokers[i].Host, r.Brokers[i].Port = host, port
		}
	case *kmsg.FindCoordinatorResponse:
		if r.NodeID >= 0 && r.Host != "" {
			r.Host, r.Port = host, port
		}
		for i := range r.Coordinators {
			if c := &r.Coordinators[i]; c.NodeID >= 0 {
				c.Host, c.Port = host, port
			}
		}
	case *kmsg.DescribeClusterResponse:
		for i := range r.Brokers {
			r.Brokers[i].Host, r.Brokers[i].Port = host, port
		}
	case *kmsg.ShareFetchResponse:
		for i := range r.NodeEndpoints {
			r.NodeEndpoints[i].Host, r.NodeEndpoints[i].Port = host, port
		}
	case *kmsg.ShareAcknowledgeResponse:
		for i := range r.NodeEndpoints {
			r.NodeEndpoints[i].Host, r.NodeEndpoints[i].Port = host, port
		}
	}
}

// tagSectionLen returns the length of the tagged-field section at the start
// of b: an unsigned varint count, then per field a varint tag, a varint size
// and that many bytes.
func tagSectionLen(b []byte) (int, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, fmt.Errorf("tag count: %w", ErrBadFrame)
	}
	off := n
	for range count {
		_, n := binary.Uvarint(b[off:])
		if n <= 0 {
			return 0, fmt.Errorf("tag: %w", ErrBadFrame)
		}
		off += n
		size, n := binary.Uvarint(b[off:])
		if n <= 0 || size > uint64(len(b)-off-n) {
			return 0, fmt.Errorf("tag size: %w", ErrBadFrame)
		}
		off += n + int(size)
	}
	return off, nil
}
