package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// fileStore keeps each object as a file under root; a key's "/" separators
// are directories. Put writes a hidden temporary file next to the target,
// fsyncs it, renames it into place and fsyncs the directory, so a reader (or
// a crash) sees the old object or the new one, never a partial file.
// PutIfAbsent does the same with a hard link instead of the rename, which
// fails if the name exists.
type fileStore struct {
	root string // absolute, cleaned
}

func newFileStore(root string) *fileStore { return &fileStore{root: root} }

// tmpMarker is in the name of every temporary file Put writes:
// ".<name>.tmp-<random>". List skips such files (a crash can leave one).
const tmpMarker = ".tmp-"

func isTempName(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tmpMarker)
}

func (s *fileStore) String() string { return "file://" + filepath.ToSlash(s.root) }

func (s *fileStore) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

func (s *fileStore) Put(ctx context.Context, key string, data []byte) error {
	return s.put(ctx, key, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

func (s *fileStore) PutReader(ctx context.Context, key string, r io.Reader, size int64) error {
	return s.put(ctx, key, func(w io.Writer) error {
		return copyExactly(ctx, w, r, size)
	})
}

// copyExactly copies size bytes from r to w (all of r when size < 0), failing
// if r holds fewer, and stopping early when ctx is done.
func copyExactly(ctx context.Context, w io.Writer, r io.Reader, size int64) error {
	src := io.Reader(ctxReader{ctx, r})
	if size < 0 {
		_, err := io.Copy(w, src)
		return err
	}
	n, err := io.CopyN(w, src, size)
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("reader ended after %d of %d bytes: %w", n, size, io.ErrUnexpectedEOF)
	}
	return err
}

// ctxReader fails reads once its context is done, so that a long copy stops.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (s *fileStore) put(ctx context.Context, key string, write func(io.Writer) error) error {
	target, tmp, err := s.writeTemp(ctx, "put", key, write)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, target); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("lake: put %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(target)); err != nil {
		return fmt.Errorf("lake: put %s: fsync directory: %w", key, err)
	}
	return nil
}

// PutIfAbsent writes a complete, fsynced temporary file and hard-links it to
// the target name: link(2) creates the name atomically and fails with EEXIST
// if it exists, so of racing writers exactly one wins, and a reader never sees
// a partial file (the name appears with the whole content behind it). The
// temporary name is then removed. A filesystem without hard links (some FUSE
// and network mounts) makes every call fail, loudly, rather than fall back to
// something weaker.
func (s *fileStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	target, tmp, err := s.writeTemp(ctx, "put-if-absent", key, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return err
	}
	linkErr := os.Link(tmp, target)
	// Whatever happened, the temporary name goes: on success the object
	// keeps the inode under its own name. (Should the remove fail, the
	// leftover is hidden from List and harmless.)
	_ = os.Remove(tmp)
	if linkErr != nil {
		if errors.Is(linkErr, fs.ErrExist) {
			if fi, err := os.Lstat(target); err == nil && fi.IsDir() {
				return fmt.Errorf("lake: put-if-absent %s: a directory has that name", key)
			}
			return fmt.Errorf("lake: put-if-absent %s: %w", key, ErrExist)
		}
		return fmt.Errorf("lake: put-if-absent %s: %w", key, linkErr)
	}
	if err := syncDir(filepath.Dir(target)); err != nil {
		return fmt.Errorf("lake: put-if-absent %s: fsync directory: %w", key, err)
	}
	return nil
}

// writeTemp writes a hidden temporary file next to key's file, fsyncs and
// closes it, and returns both names. It checks ctx last, just before the
// caller makes the object visible, and removes the file on any error.
func (s *fileStore) writeTemp(ctx context.Context, op, key string, write func(io.Writer) error) (target, tmp string, err error) {
	if err := checkKey(key); err != nil {
		return "", "", fmt.Errorf("lake: %s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return "", "", fmt.Errorf("lake: %s %s: %w", op, key, err)
	}
	target = s.path(key)
	dir := filepath.Dir(target)
	f, err := s.createTemp(dir, "."+filepath.Base(target)+tmpMarker+"*")
	if err != nil {
		return "", "", fmt.Errorf("lake: %s %s: %w", op, key, err)
	}
	tmp = f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := write(f); err != nil {
		return "", "", fmt.Errorf("lake: %s %s: write: %w", op, key, err)
	}
	if err := f.Sync(); err != nil {
		return "", "", fmt.Errorf("lake: %s %s: fsync: %w", op, key, err)
	}
	if err := f.Close(); err != nil {
		return "", "", fmt.Errorf("lake: %s %s: close: %w", op, key, err)
	}
	// The last chance to give up: after this the object becomes visible.
	if err := ctx.Err(); err != nil {
		return "", "", fmt.Errorf("lake: %s %s: %w", op, key, err)
	}
	return target, tmp, nil
}

// createTemp creates the directory (durably) and a temporary file in it. A
// concurrent Delete may remove a directory it has just emptied between the
// two steps; a few attempts are enough to win that race, since the temporary
// file then keeps the directory from being removed.
func (s *fileStore) createTemp(dir, pattern string) (*os.File, error) {
	var err error
	for range 3 {
		if err = s.mkdirAll(dir); err != nil {
			return nil, err
		}
		var f *os.File
		if f, err = os.CreateTemp(dir, pattern); err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return nil, err
}

// mkdirAll creates dir and its missing parents, fsyncing each parent whose
// entries changed, so that a new object's directory survives a crash.
func (s *fileStore) mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := s.mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // created concurrently
		}
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// notExist turns a missing file (or a directory where an object was
// expected) into ErrNotExist.
func notExist(op, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errIsDir) {
		return fmt.Errorf("lake: %s %s: %w", op, key, ErrNotExist)
	}
	return fmt.Errorf("lake: %s %s: %w", op, key, err)
}

var errIsDir = errors.New("is a directory")

func (s *fileStore) Get(ctx context.Context, key string) ([]byte, error) {
	f, info, err := s.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data := make([]byte, info.Size)
	if _, err := io.ReadFull(ctxReader{ctx, f}, data); err != nil {
		return nil, fmt.Errorf("lake: get %s: %w", key, err)
	}
	return data, nil
}

func (s *fileStore) Open(ctx context.Context, key string) (Object, ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("lake: open: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("lake: open %s: %w", key, err)
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		return nil, ObjectInfo{}, notExist("open", key, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = errIsDir
	}
	if err != nil {
		_ = f.Close()
		return nil, ObjectInfo{}, notExist("open", key, err)
	}
	return f, ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

func (s *fileStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, fmt.Errorf("lake: stat: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, fmt.Errorf("lake: stat %s: %w", key, err)
	}
	fi, err := os.Stat(s.path(key))
	if err == nil && !fi.Mode().IsRegular() {
		err = errIsDir
	}
	if err != nil {
		return ObjectInfo{}, notExist("stat", key, err)
	}
	return ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

func (s *fileStore) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, fmt.Errorf("lake: list: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lake: list %q: %w", prefix, err)
	}
	// Walk only the deepest directory the prefix names. Keys are built by
	// concatenation and sorted once at the end: no per-entry filepath.Join,
	// Rel or per-directory sort (a Delta log of thousands of commits is one
	// directory).
	dir, _ := splitPrefix(prefix)
	start, keyDir := s.root, ""
	if dir != "" {
		start, keyDir = s.path(dir), dir+"/"
	}
	var out []ObjectInfo
	var walk func(path, keyDir string) error
	walk = func(path, keyDir string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // nothing under this prefix, or removed while walking
			}
			return err
		}
		ents, err := f.ReadDir(-1)
		f.Close()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		for _, d := range ents {
			name := d.Name()
			key := keyDir + name
			if d.IsDir() {
				if strings.HasPrefix(key+"/", prefix) || strings.HasPrefix(prefix, key+"/") {
					if err := walk(path+string(filepath.Separator)+name, key+"/"); err != nil {
						return err
					}
				}
				continue
			}
			if !d.Type().IsRegular() || isTempName(name) || !strings.HasPrefix(key, prefix) {
				continue
			}
			fi, err := d.Info()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // deleted while walking
				}
				return err
			}
			out = append(out, ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
		}
		return nil
	}
	if err := walk(start, keyDir); err != nil {
		return nil, fmt.Errorf("lake: list %q: %w", prefix, err)
	}
	// Directory order is arbitrary; keys sort as strings.
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func (s *fileStore) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("lake: delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("lake: delete %s: %w", key, err)
	}
	p := s.path(key)
	if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
		return nil // a "directory" is not an object: nothing to delete
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("lake: delete %s: %w", key, err)
	}
	// Best effort: remove the parents the delete left empty, up to the root.
	// os.Remove refuses a non-empty directory, which ends the climb.
	for dir := filepath.Dir(p); dir != s.root && strings.HasPrefix(dir, s.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

func (s *fileStore) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("lake: ping %s: %w", s, err)
	}
	if err := s.mkdirAll(s.root); err != nil {
		return fmt.Errorf("lake: ping %s: %w", s, err)
	}
	f, err := os.CreateTemp(s.root, ".ping"+tmpMarker+"*")
	if err != nil {
		return fmt.Errorf("lake: ping %s: directory is not writable: %w", s, err)
	}
	name := f.Name()
	_ = f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("lake: ping %s: %w", s, err)
	}
	return nil
}
