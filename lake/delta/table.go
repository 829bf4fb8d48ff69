package delta

import (
	"fmt"
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
// root joined with the decoded relative path. An absolute path (another
// location, as a shallow clone writes) has no key in this store.
func (t *Table) DataKey(p string) (string, error) {
	rel, err := DecodePath(p)
	if err != nil {
		return "", err
	}
	if isAbsolutePath(rel) {
		return "", fmt.Errorf("delta: %s: file %q is outside the table (an absolute path)", t, p)
	}
	return t.key(rel), nil
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
