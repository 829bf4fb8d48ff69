package lake_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/laketest"
)

func openFile(t *testing.T, dir string) lake.Store {
	t.Helper()
	s, err := lake.Open(t.Context(), "file://"+dir, lake.S3Config{})
	if err != nil {
		t.Fatalf("Open(file://%s): %v", dir, err)
	}
	return s
}

func TestFileStoreConformance(t *testing.T) {
	laketest.Run(t, func(t *testing.T) lake.Store {
		// A root that does not exist yet: the store creates it on demand.
		return openFile(t, filepath.Join(t.TempDir(), "lake"))
	})
}

func TestS3StoreConformance(t *testing.T) {
	m := laketest.StartMinIO(t)
	var n atomic.Int64
	t.Run("BucketRoot", func(t *testing.T) {
		laketest.Run(t, func(t *testing.T) lake.Store {
			return m.Bucket(t, fmt.Sprintf("conformance-%d", n.Add(1)))
		})
	})
	t.Run("UnderPrefix", func(t *testing.T) {
		// Every store shares one bucket, each under its own prefix, next to
		// an object outside any of them: prefixes must isolate stores.
		root := m.Bucket(t, "prefixed")
		if err := root.Put(t.Context(), "store-1x/outsider", []byte("x")); err != nil {
			t.Fatal(err)
		}
		laketest.Run(t, func(t *testing.T) lake.Store {
			return m.Open(t, fmt.Sprintf("s3://prefixed/store-%d", n.Add(1)))
		})
	})
}

func TestS3PrefixedStoreSeesOnlyItsKeys(t *testing.T) {
	m := laketest.StartMinIO(t)
	root := m.Bucket(t, "lake")
	ckpt := m.Open(t, "s3://lake/_checkpoints/streamer/")
	ctx := t.Context()
	if err := root.Put(ctx, "stream/date=2024-11-21/a.parquet", []byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := ckpt.Put(ctx, "offsets/00000000000000000000.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	objs, err := ckpt.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].Key != "offsets/00000000000000000000.json" {
		t.Fatalf("prefixed store lists %+v, want only its own key, relative to its prefix", objs)
	}
	all, err := root.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"_checkpoints/streamer/offsets/00000000000000000000.json", "stream/date=2024-11-21/a.parquet"}
	if got := keys(all); !slices.Equal(got, want) {
		t.Fatalf("bucket root lists %q, want %q", got, want)
	}
	if s := ckpt.String(); !strings.Contains(s, "s3://lake/_checkpoints/streamer/") || !strings.Contains(s, m.Endpoint) || strings.Contains(s, m.SecretKey) {
		t.Fatalf("String() = %q: want bucket, prefix and endpoint, and never the secret", s)
	}
}

func TestS3PingReportsMissingBucket(t *testing.T) {
	m := laketest.StartMinIO(t)
	s := m.Open(t, "s3://no-such-bucket")
	err := s.Ping(t.Context())
	if err == nil || !strings.Contains(err.Error(), "bucket no-such-bucket does not exist") {
		t.Fatalf("Ping of a missing bucket = %v, want an error saying the bucket does not exist", err)
	}
	m.CreateBucket(t, "no-such-bucket")
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping once the bucket exists: %v", err)
	}
}

func TestS3WrongCredentialsFail(t *testing.T) {
	m := laketest.StartMinIO(t)
	m.CreateBucket(t, "lake")
	cfg := m.S3Config()
	cfg.SecretKey = "wrong-secret"
	s, err := lake.Open(t.Context(), "s3://lake", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err == nil {
		t.Fatal("Ping with a wrong secret key succeeded")
	}
	if err := s.Put(t.Context(), "x.json", []byte("{}")); err == nil || errors.Is(err, lake.ErrNotExist) {
		t.Fatalf("Put with a wrong secret key = %v, want an access error", err)
	}
}

func keys(objs []lake.ObjectInfo) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.Key
	}
	return out
}

func TestFileStoreListSkipsTempFilesLeftByACrash(t *testing.T) {
	dir := t.TempDir()
	s := openFile(t, dir)
	ctx := t.Context()
	if err := s.Put(ctx, "stream/date=2024-11-21/a.parquet", []byte("a")); err != nil {
		t.Fatal(err)
	}
	// What a crash between create and rename leaves behind.
	leftover := filepath.Join(dir, "stream", "date=2024-11-21", ".b.parquet.tmp-12345")
	if err := os.WriteFile(leftover, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := s.List(ctx, "stream/")
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(objs); !slices.Equal(got, []string{"stream/date=2024-11-21/a.parquet"}) {
		t.Fatalf("List = %q: a temporary file must never be listed", got)
	}
}

func TestFileStorePutLeavesNoTempFiles(t *testing.T) {
	dir := t.TempDir()
	s := openFile(t, dir)
	for i := range 3 {
		if err := s.Put(t.Context(), "stream/_delta_log/0.json", []byte(strings.Repeat("x", i))); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, "stream", "_delta_log"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"0.json"}) {
		t.Fatalf("directory holds %q after Puts, want only 0.json", names)
	}
}

func TestFileStoreDeleteRemovesEmptyParents(t *testing.T) {
	dir := t.TempDir()
	s := openFile(t, dir)
	ctx := t.Context()
	for _, k := range []string{"stream/date=2024-11-21/a.parquet", "stream/date=2024-11-22/b.parquet"} {
		if err := s.Put(ctx, k, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "stream/date=2024-11-21/a.parquet"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stream", "date=2024-11-21")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("empty partition directory still there after its last object was deleted (stat: %v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stream", "date=2024-11-22", "b.parquet")); err != nil {
		t.Fatalf("Delete removed a neighbour: %v", err)
	}
	if err := s.Delete(ctx, "stream/date=2024-11-22/b.parquet"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stream")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("empty stream/ directory still there (stat: %v)", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("Delete removed the store's root: %v", err)
	}
}

func TestFileStorePingReportsUnwritableRoot(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := openFile(t, file)
	if err := s.Ping(t.Context()); err == nil {
		t.Fatal("Ping succeeded on a root that is a regular file")
	}
	fresh := filepath.Join(dir, "new", "lake")
	if err := openFile(t, fresh).Ping(t.Context()); err != nil {
		t.Fatalf("Ping of a missing root: %v, want it created", err)
	}
	if fi, err := os.Stat(fresh); err != nil || !fi.IsDir() {
		t.Fatalf("Ping did not create the root directory: %v", err)
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	good := lake.S3Config{Endpoint: "minio:9000", AccessKey: "k", SecretKey: "s"}
	cases := []struct {
		name string
		url  string
		cfg  lake.S3Config
		want []string // substrings the error must contain
	}{
		{"empty", "", good, []string{"empty store URL"}},
		{"no scheme", "/data/lake", good, []string{"no scheme"}},
		{"unknown scheme", "gs://bucket/x", good, []string{`unknown scheme "gs"`}},
		{"relative file", "file://data/lake", good, []string{"must be absolute"}},
		{"opaque file", "file:data/lake", good, []string{"must be absolute"}},
		{"dot file", "file://./lake", good, []string{"must be absolute"}},
		{"missing bucket", "s3:///prefix", good, []string{"missing bucket"}},
		{"bad bucket", "s3://Bad_Bucket", good, []string{`bucket "Bad_Bucket"`}},
		{"bad prefix", "s3://lake/a/../b", good, []string{"prefix"}},
		{"query", "s3://lake?x=1", good, []string{"unexpected query"}},
		{"missing endpoint and credentials", "s3://lake", lake.S3Config{}, []string{"S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY"}},
		{"endpoint with path", "s3://lake", lake.S3Config{Endpoint: "minio:9000/x", AccessKey: "k", SecretKey: "s"}, []string{"without a path"}},
		{"http endpoint with SSL", "s3://lake", lake.S3Config{Endpoint: "http://minio:9000", AccessKey: "k", SecretKey: "s", UseSSL: true}, []string{"S3_USE_SSL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := lake.Open(t.Context(), tc.url, tc.cfg)
			if err == nil {
				t.Fatalf("Open(%q) = %v, want an error", tc.url, s)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open(%q) error %q does not mention %q", tc.url, err, w)
				}
			}
		})
	}
}

func TestOpenNeverPrintsCredentials(t *testing.T) {
	for _, u := range []string{"s3://AKIA:topsecret@lake/x", "s3://AKIA:topsecret@lake/%zz"} {
		_, err := lake.Open(t.Context(), u, lake.S3Config{})
		if err == nil {
			t.Fatalf("Open(%q) accepted credentials in the URL", u)
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Fatalf("Open's error leaks the password: %v", err)
		}
	}
}

func TestOpenAcceptsGoodURLs(t *testing.T) {
	cfg := lake.S3Config{Endpoint: "https://s3.example.test", AccessKey: "k", SecretKey: "s"}
	cases := map[string]string{
		"file:///data/lake":                "file:///data/lake",
		"file:///data/lake/":               "file:///data/lake",
		"file://localhost/data/lake":       "file:///data/lake",
		"s3://lake":                        "s3://lake/ at https://s3.example.test",
		"s3://lake/_checkpoints/streamer/": "s3://lake/_checkpoints/streamer/ at https://s3.example.test",
	}
	for u, want := range cases {
		s, err := lake.Open(context.Background(), u, cfg)
		if err != nil {
			t.Errorf("Open(%q): %v", u, err)
			continue
		}
		if got := s.String(); got != want {
			t.Errorf("Open(%q).String() = %q, want %q", u, got, want)
		}
	}
}
