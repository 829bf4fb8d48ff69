package driver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"

	"github.com/sensorlab/sensorlab/query/agg"
	"github.com/sensorlab/sensorlab/services/streamer/internal/checkpoint"
)

// A state file of a query file's checkpoint holds one part per stateful
// query: its aggregation's snapshot or changelog (query/agg), named by the
// query (its sink's name):
//
//	magic "SLQS" | version u8 | kind u8 (1 snapshot, 2 changelog)
//	parts uvarint, each: name length uvarint | name | payload length uvarint | payload
//	CRC-32C u32 (little-endian) of every byte before it
//
// Every batch writes one: a snapshot every snapshotEvery batches and as the
// first batch of a session, a changelog otherwise. Recovery
// (checkpoint.Recovery) gives the newest snapshot and the changelogs after
// it; each query restores from its parts.
const (
	stateMagic   = "SLQS"
	stateVersion = 1
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
	b := append([]byte(stateMagic), stateVersion, kind)
	b = binary.AppendUvarint(b, uint64(len(parts)))
	for _, p := range parts {
		b = binary.AppendUvarint(b, uint64(len(p.name)))
		b = append(b, p.name...)
		b = binary.AppendUvarint(b, uint64(len(p.payload)))
		b = append(b, p.payload...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
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
	if v := body[4]; v != stateVersion {
		return nil, fmt.Errorf("%w: format version %d, this streamer reads %d", errStateFile, v, stateVersion)
	}
	if k := body[5]; k != want {
		return nil, fmt.Errorf("%w: kind %d where %d was expected", errStateFile, k, want)
	}
	rest := body[6:]
	next := func() ([]byte, bool) {
		n, w := binary.Uvarint(rest)
		if w <= 0 || n > uint64(len(rest)-w) {
			return nil, false
		}
		v := rest[w : w+int(n)]
		rest = rest[w+int(n):]
		return v, true
	}
	count, w := binary.Uvarint(rest)
	if w <= 0 || count > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: bad part count", errStateFile)
	}
	rest = rest[w:]
	parts := make(map[string][]byte, count)
	for i := uint64(0); i < count; i++ {
		name, ok1 := next()
		payload, ok2 := next()
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: part %d is truncated", errStateFile, i)
		}
		parts[strings.ToLower(string(name))] = payload
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
}

// saveState writes the batch's state file and returns its kind.
func (d *Driver) saveState(ctx context.Context, s *session, batchID int64) (string, error) {
	snap := s.state.snapshotNext || batchID%snapshotEvery == 0
	var parts []statePart
	for _, rq := range s.queries {
		a := rq.exec.Agg()
		if a == nil {
			continue
		}
		var buf bytes.Buffer
		var err error
		if snap {
			// Close the changelog sequence first: the next changelog then
			// holds only what the batches after this snapshot change.
			if err = a.WriteChangelog(io.Discard); err == nil {
				err = a.WriteSnapshot(&buf)
			}
		} else {
			err = a.WriteChangelog(&buf)
		}
		if err != nil {
			return "", fmt.Errorf("query %s: state: %w", rq.q.Name, err)
		}
		parts = append(parts, statePart{name: rq.q.Name, payload: buf.Bytes()})
	}
	if snap {
		if err := s.ck.WriteState(ctx, batchID, encodeState(kindSnapshot, parts)); err != nil {
			return "", fmt.Errorf("write state: %w", err)
		}
		s.state.snapshotNext = false
		return "snapshot", nil
	}
	if err := s.ck.WriteStateChangelog(ctx, batchID, encodeState(kindChangelog, parts)); err != nil {
		return "", fmt.Errorf("write state changelog: %w", err)
	}
	return "changelog", nil
}

// restoreState gives every stateful query the state recovery found: its
// part of the snapshot and of each changelog after it. A query with no part
// anywhere was added to the script: it starts empty.
func (d *Driver) restoreState(s *session, rec checkpoint.Recovery) error {
	if rec.State == nil {
		return nil
	}
	snap, err := decodeState(rec.State, kindSnapshot)
	if err != nil {
		return fmt.Errorf("%w: state of batch %d's snapshot: %w", checkpoint.ErrDamaged, rec.LastCommit.BatchID, err)
	}
	chain := make([]map[string][]byte, len(rec.Changelogs))
	for i, c := range rec.Changelogs {
		if chain[i], err = decodeState(c, kindChangelog); err != nil {
			return fmt.Errorf("%w: state changelog %d of %d: %w", checkpoint.ErrDamaged, i+1, len(rec.Changelogs), err)
		}
	}
	for _, rq := range s.queries {
		in, cfg, ok := rq.q.AggConfig()
		if !ok {
			continue
		}
		key := strings.ToLower(rq.q.Name)
		base, inSnap := snap[key]
		var logs []io.Reader
		for _, c := range chain {
			if p, ok := c[key]; ok {
				logs = append(logs, bytes.NewReader(p))
			}
		}
		switch {
		case !inSnap && len(logs) == 0:
			d.log.Info("query has no state in the checkpoint: it starts empty", "query", rq.q.Name)
			continue
		case !inSnap || len(logs) != len(chain):
			return fmt.Errorf("%w: query %s's state is in %d of the %d state files recovery reads (a snapshot and its changelogs)",
				checkpoint.ErrDamaged, rq.q.Name, len(logs)+btoi(inSnap), len(chain)+1)
		}
		op, err := agg.Restore(in, cfg, bytes.NewReader(base), logs...)
		if err != nil {
			return fmt.Errorf("query %s: restore state of batch %d: %w", rq.q.Name, rec.LastCommit.BatchID, err)
		}
		rq.exec.SetAgg(op)
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
