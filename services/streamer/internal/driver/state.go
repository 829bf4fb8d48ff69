package driver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"

	"github.com/sensorlab/sensorlab/query/agg"
	"github.com/sensorlab/sensorlab/query/plan"
	"github.com/sensorlab/sensorlab/query/types"
	"github.com/sensorlab/sensorlab/services/streamer/internal/checkpoint"
)

// A state file of a query file's checkpoint holds one part per stateful
// query: its aggregation's snapshot or changelog (query/agg), named by the
// query (its sink's name):
//
//	magic "SLQS" | version u8 | kind u8 (1 snapshot, 2 changelog)
//	parts uvarint, each: name length uvarint | name | payload length u64 (little-endian) | payload
//	CRC-32C u32 (little-endian) of every byte before it
//
// (Version 1, which this streamer still reads, gave a payload's length as
// a uvarint; version 2's fixed width lets a part be encoded straight into
// the file and its length filled in after.) Every batch writes one: a
// snapshot every snapshotEvery batches and as the first batch of a
// session, a changelog otherwise. Recovery (checkpoint.Recovery) gives the
// newest snapshot and the changelogs after it; each query restores from
// its parts.
const (
	stateMagic   = "SLQS"
	stateVersion = 2
)

// The kinds of state file.
const (
	kindSnapshot  = 1
	kindChangelog = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// statePart is one query's part of a state file.
type statePart struct {
	name    string
	payload []byte
}

func encodeState(kind byte, parts []statePart) []byte {
	b := beginState(nil, kind, len(parts))
	for _, p := range parts {
		b, _ = appendPart(b, p.name, func(b []byte) ([]byte, error) { return append(b, p.payload...), nil })
	}
	return endState(b, 0)
}

// beginState, appendPart and endState append a state file of n parts to
// b, part by part.
func beginState(b []byte, kind byte, n int) []byte {
	b = append(b, stateMagic...)
	b = append(b, stateVersion, kind)
	return binary.AppendUvarint(b, uint64(n))
}

// appendPart appends the part name whose payload payload appends.
func appendPart(b []byte, name string, payload func([]byte) ([]byte, error)) ([]byte, error) {
	b = binary.AppendUvarint(b, uint64(len(name)))
	b = append(b, name...)
	at := len(b)
	b, err := payload(binary.LittleEndian.AppendUint64(b, 0))
	if err != nil {
		return b, err
	}
	binary.LittleEndian.PutUint64(b[at:], uint64(len(b)-at-8))
	return b, nil
}

// endState ends the state file that starts at b[start].
func endState(b []byte, start int) []byte {
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// errStateFile marks bytes that are not an intact state file of ours.
var errStateFile = errors.New("not an intact query state file")

// decodeState checks a state file and returns its parts by lower-case name.
func decodeState(b []byte, want byte) (map[string][]byte, error) {
	if len(b) < len(stateMagic)+2+1+4 || string(b[:len(stateMagic)]) != stateMagic {
		return nil, fmt.Errorf("%w: no %q header (a state file an earlier streamer's built-in windowing path wrote?)", errStateFile, stateMagic)
	}
	body := b[:len(b)-4]
	if got, stored := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[len(b)-4:]); got != stored {
		return nil, fmt.Errorf("%w: checksum mismatch", errStateFile)
	}
	v := body[4]
	if v != 1 && v != stateVersion {
		return nil, fmt.Errorf("%w: format version %d, this streamer reads 1 and %d", errStateFile, v, stateVersion)
	}
	if k := body[5]; k != want {
		return nil, fmt.Errorf("%w: kind %d where %d was expected", errStateFile, k, want)
	}
	rest := body[6:]
	name := func() ([]byte, bool) {
		n, w := binary.Uvarint(rest)
		if w <= 0 || n > uint64(len(rest)-w) {
			return nil, false
		}
		v := rest[w : w+int(n)]
		rest = rest[w+int(n):]
		return v, true
	}
	payload := name // version 1
	if v == 2 {
		payload = func() ([]byte, bool) {
			if len(rest) < 8 {
				return nil, false
			}
			n := binary.LittleEndian.Uint64(rest)
			if n > uint64(len(rest)-8) {
				return nil, false
			}
			p := rest[8 : 8+n]
			rest = rest[8+n:]
			return p, true
		}
	}
	count, w := binary.Uvarint(rest)
	if w <= 0 || count > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: bad part count", errStateFile)
	}
	rest = rest[w:]
	parts := make(map[string][]byte, count)
	for i := uint64(0); i < count; i++ {
		n, ok1 := name()
		p, ok2 := payload()
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: part %d is truncated", errStateFile, i)
		}
		parts[strings.ToLower(string(n))] = p
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errStateFile, len(rest))
	}
	return parts, nil
}

// stateCursor says what the next state file is.
type stateCursor struct {
	// snapshotNext: the first batch of a session writes a snapshot, so
	// that no changelog chain spans two sessions' scripts.
	snapshotNext bool
	// file is the buffer a state file is built in, kept from batch to
	// batch: at a million keys a changelog is tens of MB, and a fresh
	// buffer of that size every batch costs more in page faults than
	// writing it. Each aggregation encodes its part straight into it,
	// after the room for the checkpoint's frame.
	file []byte
}

// saveState writes the batch's state file and returns its kind.
func (d *Driver) saveState(ctx context.Context, s *session, batchID int64) (string, error) {
	snap := s.state.snapshotNext || batchID%snapshotEvery == 0
	type part struct {
		name string
		op   *agg.Op
	}
	var parts []part
	done := map[*agg.Op]bool{}
	for _, rq := range s.queries {
		a := rq.exec.Agg()
		if a == nil || done[a] {
			continue
		}
		done[a] = true
		parts = append(parts, part{partName(rq), a})
	}
	kind := byte(kindChangelog)
	if snap {
		kind = kindSnapshot
	}
	hint := checkpoint.StateFileHeader + 64
	for _, p := range parts {
		hint += len(p.name) + 16 + p.op.CheckpointSizeHint(snap)
	}
	b := append(slices.Grow(s.state.file[:0], hint), make([]byte, checkpoint.StateFileHeader)...)
	b = beginState(b, kind, len(parts))
	for _, p := range parts {
		var err error
		b, err = appendPart(b, p.name, func(b []byte) ([]byte, error) {
			if snap {
				// Close the changelog sequence first: the next changelog
				// then holds only what the batches after this snapshot
				// change.
				p.op.DiscardChangelog()
				return p.op.AppendSnapshot(b)
			}
			return p.op.AppendChangelog(b)
		})
		if err != nil {
			return "", fmt.Errorf("query %s: state: %w", p.name, err)
		}
	}
	b = endState(b, checkpoint.StateFileHeader)
	b, err := s.ck.WriteStateFile(ctx, batchID, snap, b)
	s.state.file = b
	if err != nil {
		if snap {
			return "", fmt.Errorf("write state: %w", err)
		}
		return "", fmt.Errorf("write state changelog: %w", err)
	}
	if snap {
		s.state.snapshotNext = false
		return "snapshot", nil
	}
	return "changelog", nil
}

// partName names a query's part of a state file: the query's name, or for
// an aggregation several queries share (plan.NewSharedExecutors) their
// names joined by sharedSep, in the order the operator was built from.
func partName(rq *runningQuery) string {
	if names := rq.exec.Shared(); names != nil {
		return strings.Join(names, sharedSep)
	}
	return rq.q.Name
}

// sharedSep joins the names of queries that share an aggregation; no
// query name (an identifier) holds it.
const sharedSep = "+"

// restoreState gives every query its executor, with the state recovery
// found: a stateful query's part of the snapshot and of each changelog
// after it. A query with no part anywhere was added to the script: it
// starts empty.
//
// Queries that can share an aggregation (plan.ShareGroups) share it as the
// checkpoint does: the queries of a shared part stay together, a query
// with its own part (written before it could share, or alone then) keeps
// it, and the queries new to the checkpoint share among themselves. A
// shared part whose queries are no longer all in the file, or no longer
// group alike, cannot be split: the start is refused.
func (d *Driver) restoreState(s *session, rec checkpoint.Recovery) error {
	var snap map[string][]byte
	var chain []map[string][]byte
	if rec.State != nil {
		var err error
		if snap, err = decodeState(rec.State, kindSnapshot); err != nil {
			return fmt.Errorf("%w: state of batch %d's snapshot: %w", checkpoint.ErrDamaged, rec.LastCommit.BatchID, err)
		}
		chain = make([]map[string][]byte, len(rec.Changelogs))
		for i, c := range rec.Changelogs {
			if chain[i], err = decodeState(c, kindChangelog); err != nil {
				return fmt.Errorf("%w: state changelog %d of %d: %w", checkpoint.ErrDamaged, i+1, len(rec.Changelogs), err)
			}
		}
	}
	groups, err := stateGroups(d.prog.Queries, snap)
	if err != nil {
		return err
	}
	byQuery := map[*plan.Query]*runningQuery{}
	for _, rq := range s.queries {
		byQuery[rq.q] = rq
	}
	for _, g := range groups {
		qs := g.queries
		in, cfg, _ := qs[0].AggConfig()
		if len(qs) > 1 {
			if in, cfg, err = plan.SharedConfig(qs); err != nil {
				return fmt.Errorf("%w: %w", errSetup, err)
			}
		}
		op, err := d.restorePart(g.part, in, cfg, snap, chain, rec)
		if err != nil {
			if len(g.removed) > 0 {
				return fmt.Errorf("%w: the checkpoint keeps the aggregation state of queries %s in one (they group alike); %s, no longer in the query file, aggregated what the others do not: put it back, or start from a new checkpoint (%w)",
					errIncompatibleQuery, strings.Join(strings.Split(g.part, sharedSep), ", "), strings.Join(g.removed, ", "), err)
			}
			return err
		}
		if len(qs) == 1 {
			x, err := qs[0].NewExecutor()
			if err != nil {
				return fmt.Errorf("%w: %w", errSetup, err)
			}
			if op != nil {
				x.SetAgg(op)
			}
			byQuery[qs[0]].exec = x
			continue
		}
		xs, err := plan.NewSharedExecutors(qs, op)
		if err != nil {
			return fmt.Errorf("%w: %w", errSetup, err)
		}
		for i, q := range qs {
			byQuery[q].exec = xs[i]
		}
	}
	for _, rq := range s.queries {
		if rq.exec == nil { // stateless
			if rq.exec, err = rq.q.NewExecutor(); err != nil {
				return fmt.Errorf("%w: %w", errSetup, err)
			}
		}
	}
	return nil
}

// restorePart restores the aggregation stored under name; nil when the
// checkpoint holds none (a new checkpoint, or a query added to the file).
func (d *Driver) restorePart(name string, in types.Schema, cfg agg.Config, snap map[string][]byte, chain []map[string][]byte, rec checkpoint.Recovery) (*agg.Op, error) {
	key := strings.ToLower(name)
	base, inSnap := snap[key]
	var logs []io.Reader
	for _, c := range chain {
		if p, ok := c[key]; ok {
			logs = append(logs, bytes.NewReader(p))
		}
	}
	switch {
	case !inSnap && len(logs) == 0:
		if snap != nil {
			d.log.Info("query has no state in the checkpoint: it starts empty", "query", name)
		}
		return nil, nil
	case !inSnap || len(logs) != len(chain):
		return nil, fmt.Errorf("%w: query %s's state is in %d of the %d state files recovery reads (a snapshot and its changelogs)",
			checkpoint.ErrDamaged, name, len(logs)+btoi(inSnap), len(chain)+1)
	}
	op, err := agg.Restore(in, cfg, bytes.NewReader(base), logs...)
	if err != nil {
		return nil, fmt.Errorf("query %s: restore state of batch %d: %w", name, rec.LastCommit.BatchID, err)
	}
	return op, nil
}

// stateGroup is queries that run over one aggregation operator, and the
// name of the state part it restores from.
type stateGroup struct {
	queries []*plan.Query
	part    string
	// removed lists the queries of a shared part that are no longer in
	// the file: the others go on with the state if what they aggregate
	// is all of it.
	removed []string
}

// stateGroups decides which stateful queries share an aggregation (see
// restoreState): groups of one query or more, each of one ShareKey.
func stateGroups(qs []*plan.Query, snap map[string][]byte) ([]stateGroup, error) {
	byName := map[string]*plan.Query{}
	for _, q := range qs {
		byName[strings.ToLower(q.Name)] = q
	}
	var groups []stateGroup
	placed := map[*plan.Query]bool{}
	// The checkpoint's shared parts first, in their order.
	stored := make([]string, 0, len(snap))
	for name := range snap {
		stored = append(stored, name)
	}
	slices.Sort(stored)
	for _, name := range stored {
		members := strings.Split(name, sharedSep)
		if len(members) < 2 {
			continue
		}
		g := stateGroup{part: name}
		for _, m := range members {
			q, ok := byName[m]
			if !ok {
				g.removed = append(g.removed, m)
				continue
			}
			if k := q.ShareKey(); k == "" || (len(g.queries) > 0 && k != g.queries[0].ShareKey()) {
				return nil, fmt.Errorf("%w: the checkpoint keeps the aggregation state of queries %s in one (they group alike); %s no longer groups as the others do: restore it, or start from a new checkpoint",
					errIncompatibleQuery, strings.Join(members, ", "), q.Name)
			}
			g.queries = append(g.queries, q)
			placed[q] = true
		}
		if len(g.queries) > 0 {
			groups = append(groups, g)
		}
	}
	// Then the candidates of the file: a query with its own part keeps it;
	// the others share among themselves.
	for _, g := range plan.ShareGroups(qs) {
		var fresh []*plan.Query
		for _, q := range g {
			switch {
			case placed[q]:
			case hasPart(snap, q.Name):
				groups = append(groups, stateGroup{queries: []*plan.Query{q}, part: q.Name})
			default:
				fresh = append(fresh, q)
			}
			placed[q] = true
		}
		if len(fresh) > 0 {
			groups = append(groups, stateGroup{queries: fresh, part: groupName(fresh)})
		}
	}
	// Stateful queries that cannot share.
	for _, q := range qs {
		if _, _, ok := q.AggConfig(); ok && !placed[q] {
			groups = append(groups, stateGroup{queries: []*plan.Query{q}, part: q.Name})
		}
	}
	return groups, nil
}

// groupName is the state part name of queries sharing an aggregation.
func groupName(qs []*plan.Query) string {
	names := make([]string, len(qs))
	for i, q := range qs {
		names[i] = q.Name
	}
	return strings.Join(names, sharedSep)
}

func hasPart(snap map[string][]byte, name string) bool {
	_, ok := snap[strings.ToLower(name)]
	return ok
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
