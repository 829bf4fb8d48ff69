package lake

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// S3Config holds what an s3:// store needs besides its URL. Each service's
// config package fills it from S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY and
// S3_USE_SSL (and S3_REGION if it has one); this package never reads the
// environment. A local file:// store ignores it.
type S3Config struct {
	// Endpoint is host:port, e.g. "minio:9000". A leading "http://" or
	// "https://" is accepted and must agree with UseSSL.
	Endpoint  string
	AccessKey string
	SecretKey string
	UseSSL    bool
	// Region is optional; MinIO's default is "us-east-1".
	Region string
}

// Open returns the store a URL names:
//
//	file:///abs/path              a local directory (created on first write or Ping)
//	s3://bucket                   the root of an S3 bucket
//	s3://bucket/some/prefix       keys under "some/prefix/" in the bucket
//
// It does not contact the store: call Ping for that. Every problem with the
// URL or the S3 settings is reported at once.
func Open(ctx context.Context, rawURL string, s3 S3Config) (Store, error) {
	loc, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	switch loc.scheme {
	case "file":
		return newFileStore(loc.path), nil
	default:
		return newS3Store(ctx, loc.bucket, loc.prefix, s3)
	}
}

// location is a parsed store URL.
type location struct {
	scheme string // "file" or "s3"
	path   string // file: absolute, cleaned directory
	bucket string // s3
	prefix string // s3: "" or a valid key, without a trailing "/"
}

const urlForms = "want file:///absolute/path or s3://bucket[/prefix]"

func parseURL(rawURL string) (location, error) {
	if strings.TrimSpace(rawURL) == "" {
		return location{}, fmt.Errorf("lake: empty store URL (%s)", urlForms)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the URL, which may hold a secret: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return location{}, fmt.Errorf("lake: invalid store URL: %w (%s)", err, urlForms)
	}
	// From here on the URL is quoted only with any password redacted.
	rawURL = u.Redacted()
	if u.RawQuery != "" || u.Fragment != "" {
		return location{}, fmt.Errorf("lake: store URL %q: unexpected query or fragment (%s)", rawURL, urlForms)
	}
	switch u.Scheme {
	case "file":
		return parseFileURL(rawURL, u)
	case "s3":
		return parseS3URL(rawURL, u)
	case "":
		return location{}, fmt.Errorf("lake: store URL %q has no scheme (%s)", rawURL, urlForms)
	default:
		return location{}, fmt.Errorf("lake: store URL %q: unknown scheme %q (%s)", rawURL, u.Scheme, urlForms)
	}
}

func parseFileURL(rawURL string, u *url.URL) (location, error) {
	// file:relative parses as Opaque; file://relative/x puts "relative" in Host.
	p := u.Path
	if u.Opaque != "" || (u.Host != "" && u.Host != "localhost") {
		return location{}, fmt.Errorf("lake: store URL %q: the path must be absolute, as in file:///data/lake (a relative path is not accepted)", rawURL)
	}
	if !filepath.IsAbs(p) {
		return location{}, fmt.Errorf("lake: store URL %q: the path must be absolute, as in file:///data/lake", rawURL)
	}
	return location{scheme: "file", path: filepath.Clean(p)}, nil
}

func parseS3URL(rawURL string, u *url.URL) (location, error) {
	var errs []error
	if u.User != nil {
		errs = append(errs, errors.New("credentials do not belong in the URL: set them in the S3 settings (S3_ACCESS_KEY, S3_SECRET_KEY)"))
	}
	if u.Host == "" {
		errs = append(errs, errors.New("missing bucket, as in s3://lake/prefix"))
	} else if err := s3utils.CheckValidBucketNameStrict(u.Host); err != nil {
		errs = append(errs, fmt.Errorf("bucket %q: %w", u.Host, err))
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		if err := checkKey(prefix); err != nil {
			errs = append(errs, fmt.Errorf("prefix: %w", err))
		}
	}
	if len(errs) > 0 {
		return location{}, fmt.Errorf("lake: store URL %q: %w", rawURL, errors.Join(errs...))
	}
	return location{scheme: "s3", bucket: u.Host, prefix: prefix}, nil
}
