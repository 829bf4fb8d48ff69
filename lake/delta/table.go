package delta

import (
	"fmt"
	"net/url"
	"path"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/sensorlab/sensorlab/lake"
)

// Table is a Delta table: a directory (a key prefix) of a lake.Store with a
// _delta_log under it. It holds no table state: every read lists or reads
// the log, so any number of Tables, in any number of processes, may point
// at one table. (It remembers one hint: where its last metadata cleanup
// left the log, so that the next one need not list the whole log.)
type Table struct {
	mu       sync.Mutex
	logStart int64 // oldest log version after this Table's last cleanup; -1: unknown

	store       lake.Store
	root        string // key prefix without trailing "/"; "" is the store's root
	now         func() time.Time
	newID       func() string
	engineInfo  string
	maxAttempts int
}

// Option configures a Table.
type Option func(*Table)

// WithClock sets the clock the table reads for commit timestamps, tombstone
// expiry and log retention (tests use a fixed or stepped clock).
func WithClock(now func() time.Time) Option { return func(t *Table) { t.now = now } }

// WithIDs sets the generator of table ids and commitInfo.txnId (random
// UUIDs by default; tests make them deterministic).
func WithIDs(newID func() string) Option { return func(t *Table) { t.newID = newID } }

// WithEngineInfo sets commitInfo.engineInfo ("sensorlab/<module version>"
// by default).
func WithEngineInfo(s string) Option { return func(t *Table) { t.engineInfo = s } }

// WithMaxCommitAttempts bounds how many versions a commit tries before it
// gives up (default 100): each lost race costs one attempt.
func WithMaxCommitAttempts(n int) Option { return func(t *Table) { t.maxAttempts = max(1, n) } }

// NewTable returns the table rooted at root ("stream", "batch/agg", or ""
// for the store's root). It does not touch the store.
func NewTable(store lake.Store, root string, opts ...Option) *Table {
	t := &Table{
		logStart:    -1,
		store:       store,
		root:        strings.Trim(root, "/"),
		now:         time.Now,
		newID:       func() string { return uuid.NewString() },
		engineInfo:  defaultEngineInfo(),
		maxAttempts: 100,
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

func defaultEngineInfo() string {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/sensorlab/sensorlab/lake" && d.Version != "" && d.Version != "(devel)" {
				v = d.Version
			}
		}
	}
	return "sensorlab/" + v
}

// key joins the table root and a path inside the table.
func (t *Table) key(elem ...string) string {
	if t.root == "" {
		return path.Join(elem...)
	}
	return path.Join(append([]string{t.root}, elem...)...)
}

// String names the table for errors and logs.
func (t *Table) String() string { return t.Location() }

// Location is where the table lives: the store's description with the
// table's root appended ("file:///data/lake/stream",
// "s3://lake/stream at http://minio:9000").
func (t *Table) Location() string {
	s := t.store.String()
	rest := ""
	if i := strings.Index(s, " at "); i >= 0 {
		s, rest = s[:i], s[i:]
	}
	if t.root != "" {
		s = strings.TrimSuffix(s, "/") + "/" + t.root
	}
	return s + rest
}

// DataKey returns the store key of a logical file's data file: the table
// root joined with the decoded relative path. An absolute path (a URI, as
// Spark writes after CONVERT TO DELTA or SHALLOW CLONE) is resolved when it
// lies inside the table's location (s3://, s3a:// and s3n:// name the same
// bucket; file:/ and file:/// the same directory); one elsewhere (a
// shallow clone's source) has no key in this store.
func (t *Table) DataKey(p string) (string, error) {
	rel, inside, err := t.relativePath(p)
	if err != nil {
		return "", err
	}
	if !inside {
		return "", fmt.Errorf("delta: %s: file %q is outside the table (an absolute path elsewhere)", t, p)
	}
	return t.key(rel), nil
}

// relativePath resolves a path of the log (URL-encoded, relative or
// absolute) to the decoded path relative to the table root; inside is false
// for an absolute path outside the table's location.
func (t *Table) relativePath(p string) (rel string, inside bool, err error) {
	d, err := DecodePath(p)
	if err != nil {
		return "", false, err
	}
	if !isAbsolutePath(p) {
		return d, true, nil
	}
	scheme, host, fpath := "file", "", d // a bare "/abs/path": a local file
	if !strings.HasPrefix(p, "/") {
		u, err := url.Parse(p)
		if err != nil {
			return "", false, fmt.Errorf("delta: file path %q: %w", p, err)
		}
		scheme, host, fpath = u.Scheme, u.Host, u.Path
	}
	bScheme, bHost, bPath := t.locationParts()
	if sameScheme(scheme) != sameScheme(bScheme) || sameHost(scheme, host) != sameHost(bScheme, bHost) {
		return d, false, nil
	}
	prefix := strings.TrimSuffix(bPath, "/") + "/"
	fpath = path.Clean("/" + fpath)
	if !strings.HasPrefix(fpath, prefix) || fpath == prefix {
		return d, false, nil
	}
	return strings.TrimPrefix(fpath, prefix), true, nil
}

// locationParts splits Location into scheme, host (an S3 bucket) and path
// (absolute), from the stores' descriptions: "file:///data/lake/stream",
// "s3://lake/stream at http://minio:9000".
func (t *Table) locationParts() (scheme, host, p string) {
	loc, _, _ := strings.Cut(t.Location(), " at ")
	scheme, rest, ok := strings.Cut(loc, "://")
	if !ok {
		return "", "", loc
	}
	host, p, _ = strings.Cut(rest, "/")
	return scheme, host, "/" + p
}

// sameScheme maps the schemes that name one store to one: Hadoop's s3a
// and s3n are S3.
func sameScheme(s string) string {
	switch s = strings.ToLower(s); s {
	case "s3a", "s3n":
		return "s3"
	}
	return s
}

// sameHost maps a file URI's "localhost" to the empty host.
func sameHost(scheme, host string) string {
	if strings.EqualFold(scheme, "file") && strings.EqualFold(host, "localhost") {
		return ""
	}
	return host
}

func (t *Table) logStartHint() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.logStart
}

func (t *Table) setLogStart(v int64) {
	t.mu.Lock()
	t.logStart = v
	t.mu.Unlock()
}
