// Package faultstore wraps a lake.Store to simulate a process that dies in
// the middle of its writes, for the crash tests of the sink and the app.
//
// A Store counts every write (Put, PutIfAbsent, PutReader, Delete) and
// records its key. With CrashAt set to k, the k-th write fails without
// reaching the store, and so does every write after it: the process is
// dead from then on, and nothing it tries later lands. Reads always pass,
// so that a dying process still sees the store as it is.
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

// Store is a lake.Store that dies at its CrashAt-th write.
type Store struct {
	lake.Store
	// Name prefixes the keys in Writes ("lake:", "checkpoint:").
	Name string

	mu      sync.Mutex
	crashAt int // 0: never
	writes  []string
	dead    bool
	onCrash func()
}

// New wraps st; the crash is armed with CrashAt.
func New(st lake.Store, name string) *Store { return &Store{Store: st, Name: name} }

// CrashAt makes the k-th write (counting from 1, over the whole life of the
// Store) fail, and every later one; onCrash, if not nil, runs once, when
// the crash happens.
func (s *Store) CrashAt(k int, onCrash func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.crashAt, s.onCrash = k, onCrash
}

// Writes returns the keys written so far (the failed one included), in order.
func (s *Store) Writes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.writes...)
}

// Dead reports whether the crash has happened.
func (s *Store) Dead() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead
}

// write decides the fate of one write of key.
func (s *Store) write(key string) error {
	s.mu.Lock()
	s.writes = append(s.writes, s.Name+key)
	crash := !s.dead && s.crashAt > 0 && len(s.writes) >= s.crashAt
	var onCrash func()
	if crash {
		s.dead, onCrash = true, s.onCrash
	}
	dead := s.dead
	s.mu.Unlock()
	if onCrash != nil {
		onCrash()
	}
	if dead {
		return fmt.Errorf("%w before writing %s", ErrCrashed, key)
	}
	return nil
}

func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := s.write(key); err != nil {
		return err
	}
	return s.Store.Put(ctx, key, data)
}

func (s *Store) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if err := s.write(key); err != nil {
		return err
	}
	return s.Store.PutIfAbsent(ctx, key, data)
}

func (s *Store) PutReader(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := s.write(key); err != nil {
		return err
	}
	return s.Store.PutReader(ctx, key, r, size)
}

func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.write(key); err != nil {
		return err
	}
	return s.Store.Delete(ctx, key)
}
