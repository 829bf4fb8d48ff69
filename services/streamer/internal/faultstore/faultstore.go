// Package faultstore wraps lake.Stores to simulate a process that dies in
// the middle of its writes, for the crash tests of the sink and the app.
//
// A Group counts every write (Put, PutIfAbsent, PutReader, Delete) of the
// stores it wraps, in one sequence, and records its key. With CrashAt set to
// k, the k-th write fails without reaching its store, and so does every
// write after it: the process is dead from then on, and nothing it tries
// later lands. Reads always pass, so that a dying process still sees the
// stores as they are.
package faultstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/sensorlab/sensorlab/lake"
)

// ErrCrashed is returned by every write from the crash on.
var ErrCrashed = errors.New("faultstore: simulated crash")

// Group is the one process whose stores die together.
type Group struct {
	mu      sync.Mutex
	crashAt int // 0: never
	writes  []string
	dead    bool
	onCrash func()
}

// NewGroup returns a group that does not crash until CrashAt arms it.
func NewGroup() *Group { return &Group{} }

// Wrap returns st counted in the group; name prefixes its keys in Writes
// ("lake:", "checkpoint:").
func (g *Group) Wrap(st lake.Store, name string) *Store { return &Store{Store: st, g: g, name: name} }

// CrashAt makes the k-th write of the group (counting from 1) fail, and
// every later one; onCrash, if not nil, runs once, when the crash happens.
func (g *Group) CrashAt(k int, onCrash func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.crashAt, g.onCrash = k, onCrash
}

// Writes returns the keys written so far (the failed ones included), in order.
func (g *Group) Writes() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.writes...)
}

// Dead reports whether the crash has happened.
func (g *Group) Dead() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.dead
}

// write decides the fate of one write of key.
func (g *Group) write(key string) error {
	g.mu.Lock()
	g.writes = append(g.writes, key)
	var onCrash func()
	if !g.dead && g.crashAt > 0 && len(g.writes) >= g.crashAt {
		g.dead, onCrash = true, g.onCrash
	}
	dead := g.dead
	g.mu.Unlock()
	if onCrash != nil {
		onCrash()
	}
	if dead {
		return fmt.Errorf("%w before writing %s", ErrCrashed, key)
	}
	return nil
}

// Store is a lake.Store of a Group.
type Store struct {
	lake.Store
	g    *Group
	name string
}

// New wraps st in a group of its own.
func New(st lake.Store, name string) *Store { return NewGroup().Wrap(st, name) }

// Group is the store's group.
func (s *Store) Group() *Group { return s.g }

func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := s.g.write(s.name + key); err != nil {
		return err
	}
	return s.Store.Put(ctx, key, data)
}

func (s *Store) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if err := s.g.write(s.name + key); err != nil {
		return err
	}
	return s.Store.PutIfAbsent(ctx, key, data)
}

func (s *Store) PutReader(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := s.g.write(s.name + key); err != nil {
		return err
	}
	return s.Store.PutReader(ctx, key, r, size)
}

func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.g.write(s.name + key); err != nil {
		return err
	}
	return s.Store.Delete(ctx, key)
}
