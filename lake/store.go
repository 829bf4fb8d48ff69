// Package lake is sensorlab's object store: one interface over an S3 bucket
// (MinIO, via minio-go) and a local directory, so that every service and test
// addresses the lake the same way whatever is behind it.
//
// Invariants every implementation keeps (the conformance suite in
// lake/laketest checks them):
//   - Put is atomic: a reader sees the whole new object or the previous one,
//     never a partial write. Put replaces an existing object.
//   - PutIfAbsent creates an object only where none exists, atomically: of
//     concurrent calls for one key exactly one succeeds, the others return an
//     error matching ErrExist, and the object holds the winner's bytes,
//     whole. It never replaces an object (nor one a Put wrote). This is the
//     primitive a Delta commit rests on: version N is created once.
//   - Get of a missing key returns an error matching ErrNotExist.
//   - List returns every object under a prefix, recursively, sorted by key;
//     keys use "/" separators and never start with "/".
//   - Delete of a missing key is not an error.
package lake

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotExist is returned (wrapped) by Get and Stat for a missing key.
var ErrNotExist = errors.New("lake: object does not exist")

// ErrExist is returned (wrapped) by PutIfAbsent when the key already holds an
// object.
var ErrExist = errors.New("lake: object already exists")

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Object is an open stored object.
type Object interface {
	io.ReadSeekCloser
	io.ReaderAt
}

// Store is an object store rooted at a bucket and prefix, or at a directory.
// Keys are relative to that root.
type Store interface {
	// Put stores data under key, atomically, replacing any previous object.
	// It does not keep data after it returns: the caller may reuse it.
	Put(ctx context.Context, key string, data []byte) error
	// PutIfAbsent stores data under key only if the key holds no object,
	// atomically; otherwise it returns an error matching ErrExist and leaves
	// the object as it was. The file store links a complete temporary file
	// into place (link(2) fails if the name exists); the S3 store sends
	// If-None-Match: * (honoured by AWS S3 and MinIO), a 412 meaning ErrExist.
	//
	// One ambiguity is inherent to a remote store: when a first attempt
	// succeeds but its response is lost, the client's retry finds the object
	// and reports ErrExist for bytes the caller wrote itself. A caller that
	// must know reads the object back and compares (the Delta commit does).
	PutIfAbsent(ctx context.Context, key string, data []byte) error
	// PutReader stores size bytes read from r under key, atomically.
	PutReader(ctx context.Context, key string, r io.Reader, size int64) error
	// Get returns the object's content.
	Get(ctx context.Context, key string) ([]byte, error)
	// Open returns a random-access reader over the object (Parquet readers
	// need ReadAt and the size in ObjectInfo).
	Open(ctx context.Context, key string) (Object, ObjectInfo, error)
	// Stat returns the object's metadata.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List returns every object whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Delete removes the object; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Ping checks that the store is reachable (the bucket exists, the
	// directory is writable): what /readyz reports.
	Ping(ctx context.Context) error
	// String describes the store for logs, without credentials.
	String() string
}
