package lake

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidKey is returned (wrapped) for a key or prefix that no store
// accepts: empty, starting or ending with "/", with an empty, "." or ".."
// segment, or with a NUL byte. Rejecting them everywhere keeps a local
// directory store from escaping its root and keeps keys portable between the
// two implementations.
var ErrInvalidKey = errors.New("lake: invalid key")

// checkKey reports whether key is a valid object key.
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if strings.IndexByte(key, 0) >= 0 {
		return fmt.Errorf("%w %q: contains a NUL byte", ErrInvalidKey, key)
	}
	if strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
		return fmt.Errorf("%w %q: starts or ends with \"/\"", ErrInvalidKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w %q: empty path segment", ErrInvalidKey, key)
		case ".", "..":
			return fmt.Errorf("%w %q: %q path segment", ErrInvalidKey, key, seg)
		}
	}
	return nil
}

// checkPrefix reports whether prefix is a valid List prefix: "" (everything),
// or a string whose directory part (up to its last "/") is a valid key. The
// last part may be partial ("stream/date=" matches every date).
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if strings.IndexByte(prefix, 0) >= 0 || strings.HasPrefix(prefix, "/") {
		return fmt.Errorf("%w prefix %q", ErrInvalidKey, prefix)
	}
	if dir, _ := splitPrefix(prefix); dir != "" {
		if err := checkKey(dir); err != nil {
			return fmt.Errorf("prefix %q: %w", prefix, err)
		}
	}
	return nil
}

// splitPrefix splits a List prefix into its directory part (without the
// trailing "/") and the partial name after it.
func splitPrefix(prefix string) (dir, partial string) {
	i := strings.LastIndexByte(prefix, '/')
	if i < 0 {
		return "", prefix
	}
	return prefix[:i], prefix[i+1:]
}
