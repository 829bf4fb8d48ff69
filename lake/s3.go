package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3Store keeps objects in an S3 bucket under an optional prefix, through
// minio-go. A PUT is atomic in S3, so Put is one PutObject. minio-go retries
// transient failures itself (a bounded number of times, honouring ctx); this
// store adds no retry loop of its own.
type s3Store struct {
	client   *minio.Client
	bucket   string
	prefix   string // "" or ends with "/"
	endpoint string
	secure   bool
}

func newS3Store(_ context.Context, bucket, prefix string, cfg S3Config) (*s3Store, error) {
	endpoint, secure, err := s3Endpoint(cfg)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.AccessKey == "" {
		errs = append(errs, errors.New("missing S3 access key (S3_ACCESS_KEY)"))
	}
	if cfg.SecretKey == "" {
		errs = append(errs, errors.New("missing S3 secret key (S3_SECRET_KEY)"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("lake: s3://%s: %w", path.Join(bucket, prefix), errors.Join(errs...))
	}
	client, err := minio.New(endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: secure,
		Region: cfg.Region,
		// MinIO and most S3-compatible servers expect path-style requests.
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("lake: s3 client for %s: %w", endpoint, err)
	}
	if prefix != "" {
		prefix += "/"
	}
	return &s3Store{client: client, bucket: bucket, prefix: prefix, endpoint: endpoint, secure: secure}, nil
}

// s3Endpoint validates the endpoint, accepting an optional http(s):// scheme
// that must agree with UseSSL.
func s3Endpoint(cfg S3Config) (host string, secure bool, err error) {
	host, secure = cfg.Endpoint, cfg.UseSSL
	switch {
	case strings.HasPrefix(host, "https://"):
		host = strings.TrimPrefix(host, "https://")
		secure = true
	case strings.HasPrefix(host, "http://"):
		host = strings.TrimPrefix(host, "http://")
		if cfg.UseSSL {
			return "", false, fmt.Errorf("S3 endpoint %q is http:// but S3_USE_SSL is true", cfg.Endpoint)
		}
	}
	host = strings.TrimSuffix(host, "/")
	switch {
	case host == "":
		return "", false, errors.New("missing S3 endpoint (S3_ENDPOINT, host:port such as minio:9000)")
	case strings.Contains(host, "/"):
		return "", false, fmt.Errorf("S3 endpoint %q must be host:port, without a path", cfg.Endpoint)
	}
	return host, secure, nil
}

func (s *s3Store) String() string {
	scheme := "http"
	if s.secure {
		scheme = "https"
	}
	return fmt.Sprintf("s3://%s/%s at %s://%s", s.bucket, s.prefix, scheme, s.endpoint)
}

func (s *s3Store) object(key string) string { return s.prefix + key }

// s3Err wraps a minio-go error with the operation and key, mapping a missing
// key to ErrNotExist and reporting the context's error when it is done (so
// that errors.Is(err, context.Canceled) holds).
func (s *s3Store) s3Err(ctx context.Context, op, key string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("lake: %s %s: %w", op, key, ctxErr)
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		switch resp.Code {
		case minio.NoSuchKey:
			return fmt.Errorf("lake: %s %s: %w", op, key, ErrNotExist)
		case minio.NoSuchBucket:
			return fmt.Errorf("lake: %s %s: bucket %s does not exist: %w", op, key, s.bucket, err)
		case "PreconditionFailed":
			return fmt.Errorf("lake: %s %s: object was replaced while open: %w", op, key, err)
		}
	}
	return fmt.Errorf("lake: %s %s in %s: %w", op, key, s, err)
}

func (s *s3Store) Put(ctx context.Context, key string, data []byte) error {
	return s.PutReader(ctx, key, bytes.NewReader(data), int64(len(data)))
}

func (s *s3Store) PutReader(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("lake: put: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("lake: put %s: %w", key, err)
	}
	if err := checkSeekableLength(r, size); err != nil {
		return fmt.Errorf("lake: put %s: %w", key, err)
	}
	_, err := s.client.PutObject(ctx, s.bucket, s.object(key), r, size, minio.PutObjectOptions{
		ContentType: contentType(key),
	})
	if err != nil {
		return s.s3Err(ctx, "put", key, err)
	}
	return nil
}

// PutIfAbsent is one PutObject with If-None-Match: *, which AWS S3 and MinIO
// honour: 412 Precondition Failed means the key exists (ErrExist). The body
// goes in a single PUT (no multipart upload, whose completion would need the
// header too); commit files are small. AWS answers 409 ConditionalRequest-
// Conflict while another conditional write to the key is in flight: that one
// is retried, a few times, and then ends in success or 412 like any other.
func (s *s3Store) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("lake: put-if-absent: %w", err)
	}
	opts := minio.PutObjectOptions{ContentType: contentType(key), DisableMultipart: true}
	opts.SetMatchETagExcept("*")
	const attempts = 5
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("lake: put-if-absent %s: %w", key, err)
		}
		_, err := s.client.PutObject(ctx, s.bucket, s.object(key), bytes.NewReader(data), int64(len(data)), opts)
		if err == nil {
			return nil
		}
		var resp minio.ErrorResponse
		if errors.As(err, &resp) && ctx.Err() == nil {
			switch {
			case resp.StatusCode == http.StatusPreconditionFailed || resp.Code == "PreconditionFailed":
				return fmt.Errorf("lake: put-if-absent %s: %w", key, ErrExist)
			case (resp.StatusCode == http.StatusConflict || resp.Code == "ConditionalRequestConflict") && attempt < attempts:
				select {
				case <-ctx.Done():
				case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
				}
				continue
			}
		}
		return s.s3Err(ctx, "put-if-absent", key, err)
	}
}

// checkSeekableLength fails at once when a seekable reader holds fewer than
// size bytes. minio-go retries a seekable body on any transport error, and a
// short body is one, so without this check the mistake would cost ten
// backed-off attempts before it is reported. (A non-seekable body is not
// retried: its short read fails on the first attempt.)
func checkSeekableLength(r io.Reader, size int64) error {
	sk, ok := r.(io.Seeker)
	if !ok || size < 0 {
		return nil
	}
	cur, err := sk.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil // not really seekable: let the upload find out
	}
	end, err := sk.Seek(0, io.SeekEnd)
	if _, serr := sk.Seek(cur, io.SeekStart); err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("seek reader: %w", err)
	}
	if end-cur < size {
		return fmt.Errorf("reader holds %d bytes, size says %d: %w", end-cur, size, io.ErrUnexpectedEOF)
	}
	return nil
}

func contentType(key string) string {
	switch path.Ext(key) {
	case ".json":
		return "application/json"
	case ".parquet":
		return "application/vnd.apache.parquet"
	default:
		return "application/octet-stream"
	}
}

// Get is one GET, read to the end: the bytes of one version of the object.
// (Stat first and then read would pin the ETag between two requests and fail
// when a concurrent Put lands in between.)
func (s *s3Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("lake: get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lake: get %s: %w", key, err)
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.object(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, s.s3Err(ctx, "get", key, err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		return nil, s.s3Err(ctx, "get", key, err)
	}
	return data, nil
}

// Open returns the *minio.Object. Its reads are bound to ctx: keep ctx alive
// while reading. Every read asks for the version Open saw (minio-go sends
// If-Match with its ETag), so a concurrent Put never mixes two versions in
// one reader: reads after a replacement fail ("object was replaced").
func (s *s3Store) Open(ctx context.Context, key string) (Object, ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("lake: open: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("lake: open %s: %w", key, err)
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.object(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, ObjectInfo{}, s.s3Err(ctx, "open", key, err)
	}
	st, err := obj.Stat()
	if err != nil {
		_ = obj.Close()
		return nil, ObjectInfo{}, s.s3Err(ctx, "open", key, err)
	}
	return obj, ObjectInfo{Key: key, Size: st.Size, ModTime: st.LastModified}, nil
}

func (s *s3Store) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, fmt.Errorf("lake: stat: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, fmt.Errorf("lake: stat %s: %w", key, err)
	}
	st, err := s.client.StatObject(ctx, s.bucket, s.object(key), minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, s.s3Err(ctx, "stat", key, err)
	}
	return ObjectInfo{Key: key, Size: st.Size, ModTime: st.LastModified}, nil
}

func (s *s3Store) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, fmt.Errorf("lake: list: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lake: list %q: %w", prefix, err)
	}
	// Cancelling the listing's own context stops minio-go's paging when we
	// return early on an error.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []ObjectInfo
	for o := range s.client.ListObjectsIter(lctx, s.bucket, minio.ListObjectsOptions{
		Prefix:    s.object(prefix),
		Recursive: true,
	}) {
		if o.Err != nil {
			return nil, s.s3Err(ctx, "list", fmt.Sprintf("%q", prefix), o.Err)
		}
		key := strings.TrimPrefix(o.Key, s.prefix)
		if checkKey(key) != nil {
			continue // a "folder" marker or a name this store cannot address
		}
		out = append(out, ObjectInfo{Key: key, Size: o.Size, ModTime: o.LastModified})
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lake: list %q: %w", prefix, err)
	}
	// S3 lists in UTF-8 byte order already; sorting makes the contract explicit.
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func (s *s3Store) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("lake: delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("lake: delete %s: %w", key, err)
	}
	if err := s.client.RemoveObject(ctx, s.bucket, s.object(key), minio.RemoveObjectOptions{}); err != nil {
		var resp minio.ErrorResponse
		if errors.As(err, &resp) && (resp.Code == minio.NoSuchKey || resp.StatusCode == http.StatusNotFound && resp.Code != minio.NoSuchBucket) {
			return nil
		}
		return s.s3Err(ctx, "delete", key, err)
	}
	return nil
}

func (s *s3Store) Ping(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return fmt.Errorf("lake: ping %s: %w", s, err)
	}
	if !ok {
		return fmt.Errorf("lake: ping %s: bucket %s does not exist", s, s.bucket)
	}
	return nil
}
