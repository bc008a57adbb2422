package kv_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestOutsideModule builds and tests, in a module of its own, the program in testdata/outside:
// a protocol with an idle timer served with reactor.Serve on a backend picked from
// adapters.Registry(), and tested with reactortest.ForEachBackend on every backend. It proves
// that the public API suffices for a program outside this module. The module replaces
// reactor with this checkout and starts from its go.sum, so with the dependencies in the module
// cache no network is needed (GOPROXY=off works).
func TestOutsideModule(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: building and testing a separate module takes tens of seconds")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go command is not on PATH: %v", err)
	}
	root := moduleRoot(t)
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goSum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The same go version as this module, so that the go command running this test needs no
	// other toolchain.
	write("go.mod", []byte("module example.com/kvserver\n\n"+goDirective(t, goMod)+"\n\n"+
		"require github.com/reactorlab/reactor v0.0.0\n\n"+
		"replace github.com/reactorlab/reactor => "+strconv.Quote(root)+"\n"))
	// reactor's dependencies are the program's: this module's sums cover them.
	write("go.sum", goSum)
	for _, name := range []string{"main.go", "main_test.go"} {
		src, err := os.ReadFile(filepath.Join("testdata", "outside", name))
		if err != nil {
			t.Fatal(err)
		}
		write(name, src)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=mod"))
	for _, args := range [][]string{{"build", "./..."}, {"vet", "./..."}, {"test", "-count=1", "./..."}} {
		cmd := exec.CommandContext(ctx, goCmd, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				t.Fatalf("go %s: still running after 4 minutes\n%s", strings.Join(args, " "), out)
			}
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("go %s:\n%s", strings.Join(args, " "), out)
	}
}

// moduleRoot is the directory of this module's go.mod, above the test's working directory.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's working directory")
		}
		dir = parent
	}
}

// goDirective is the "go" line of a go.mod.
func goDirective(t *testing.T, goMod []byte) string {
	s := bufio.NewScanner(bytes.NewReader(goMod))
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); strings.HasPrefix(line, "go ") {
			return line
		}
	}
	t.Fatal("go.mod has no go directive")
	return ""
}
