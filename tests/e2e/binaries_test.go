package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// repoRoot is the repository root.
func repoRoot(t testing.TB) string {
	t.Helper()
	return rootDir()
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binary builds (once per test run) the named service and returns its path.
func binary(t testing.TB, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "sensorlab-e2e-bin-")
		if buildErr != nil {
			return
		}
		for _, svc := range []string{"producer", "streamer", "batcher"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, svc), "./cmd/"+svc)
			cmd.Dir = filepath.Join(repoRoot(t), "services", svc)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", svc, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

// proc is a running service process whose log lines the test can wait on.
type proc struct {
	name    string
	cmd     *exec.Cmd
	lines   chan string
	done    chan error
	scanned chan struct{} // closed when all of the output has been read
	mu      sync.Mutex
	tail    []string
	leaked  []string // secrets of the environment that the process printed
	// outMu orders the two sinks' writes into the one stream of lines.
	outMu          sync.Mutex
	stdout, stderr *lineSink
}

// keepLimit bounds what a lineSink keeps of one stream (its start).
const keepLimit = 16 << 20

// lineSink receives one output stream of a process: it keeps a copy, and
// forwards whole lines only to the stream both outputs share, so that a
// line of stdout never lands inside a line of stderr.
type lineSink struct {
	mu   *sync.Mutex
	out  io.Writer
	part []byte
	kept []byte
}

func (s *lineSink) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if room := keepLimit - len(s.kept); room > 0 {
		s.kept = append(s.kept, b[:min(len(b), room)]...)
	}
	s.part = append(s.part, b...)
	if i := bytes.LastIndexByte(s.part, '\n'); i >= 0 {
		if _, err := s.out.Write(s.part[:i+1]); err != nil {
			return 0, err
		}
		s.part = append(s.part[:0], s.part[i+1:]...)
	}
	return len(b), nil
}

// flush forwards a last line that has no newline.
func (s *lineSink) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.part) > 0 {
		_, _ = s.out.Write(append(s.part, '\n'))
		s.part = nil
	}
}

func (s *lineSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.kept)
}

// Stdout returns what the process printed on stdout (its first 16 MiB).
func (p *proc) Stdout() string { return p.stdout.String() }

// Stderr returns what the process wrote on stderr, its logs (first 16 MiB).
func (p *proc) Stderr() string { return p.stderr.String() }

// start runs a service binary with args and env, logging its output to the
// test log when verbose.
func start(t testing.TB, name string, env []string, args ...string) *proc {
	t.Helper()
	return startPath(t, binary(t, name), name, env, args...)
}

// secretsOf returns the values of the secret settings in env (S3 secret
// keys, passwords): no process may ever print them.
func secretsOf(env []string) []string {
	var out []string
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if len(v) >= 8 && (strings.Contains(k, "SECRET") || strings.Contains(k, "PASSWORD")) {
			out = append(out, v)
		}
	}
	return out
}

// startPath runs the binary at path. Every line it prints is checked for the
// secrets of env: the test fails if one appears in its logs.
func startPath(t testing.TB, path, name string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	// Logs (stderr) and printed output (stdout) are read as one stream of
	// whole lines; each is also kept on its own (Stdout, Stderr).
	pr, pw := io.Pipe()
	p := &proc{name: name, cmd: cmd, lines: make(chan string, 4096), done: make(chan error, 1), scanned: make(chan struct{})}
	p.stdout = &lineSink{mu: &p.outMu, out: pw}
	p.stderr = &lineSink{mu: &p.outMu, out: pw}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	secrets := secretsOf(env)
	go func() {
		defer close(p.scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.tail = append(p.tail, line)
			if len(p.tail) > 40 {
				p.tail = p.tail[1:]
			}
			for _, s := range secrets {
				if strings.Contains(line, s) {
					p.leaked = append(p.leaked, line)
				}
			}
			p.mu.Unlock()
			select {
			case p.lines <- line:
			default: // nobody is waiting on lines: keep the tail only
			}
		}
		close(p.lines)
		_, _ = io.Copy(io.Discard, pr) // a line over 1 MiB ends the scan: keep the process unblocked
	}()
	go func() {
		err := cmd.Wait() // the copies into the sinks are done when it returns
		p.stdout.flush()
		p.stderr.flush()
		_ = pw.Close()
		p.done <- err
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-p.scanned:
		case <-time.After(10 * time.Second):
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.leaked) > 0 {
			t.Errorf("%s printed a secret of its environment in %d log lines, e.g. %.200q", name, len(p.leaked), p.leaked[0])
		}
	})
	return p
}

// Tail returns the last lines the process logged.
func (p *proc) Tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t testing.TB, ctx context.Context) int {
	t.Helper()
	select {
	case <-ctx.Done():
		t.Fatalf("%s did not exit: %v\n%s", p.name, ctx.Err(), p.Tail())
	case err := <-p.done:
		p.done <- err
		select { // the last lines, for Tail
		case <-p.scanned:
		case <-time.After(10 * time.Second):
		}
		if err == nil {
			return 0
		}
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		t.Fatalf("%s: %v", p.name, err)
	}
	return -1
}

// mustSucceed waits for a clean exit.
func (p *proc) mustSucceed(t testing.TB, ctx context.Context) {
	t.Helper()
	if code := p.wait(t, ctx); code != 0 {
		t.Fatalf("%s exited %d:\n%s", p.name, code, p.Tail())
	}
}

// waitLine waits until the process logs a line containing every substring,
// and returns how many such lines it saw. It returns false if the process
// exited first.
func (p *proc) waitLine(ctx context.Context, n int, subs ...string) bool {
	seen := 0
	for {
		select {
		case <-ctx.Done():
			return false
		case line, ok := <-p.lines:
			if !ok {
				return false
			}
			match := true
			for _, s := range subs {
				if !strings.Contains(line, s) {
					match = false
					break
				}
			}
			if match {
				if seen++; seen >= n {
					return true
				}
			}
		}
	}
}

// kill sends SIGKILL: no shutdown code runs.
func (p *proc) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s survived SIGKILL", p.name)
	}
}
