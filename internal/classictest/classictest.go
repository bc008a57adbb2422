// Package classictest runs a Python 3 chat server and client that speak the classic Python
// select() chat wire with Python's own pickle and struct, so that tests can set reactor's classic
// wire (protocols/chat) against the real thing. Python 3 comes from the OS packages
// (scripts/install-test-tools.sh); where it is absent a test skips saying so, except under CI
// (CI=true), where it fails.
package classictest

import (
	_ "embed"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

//go:embed classic_chat.py
var script []byte

// Python returns the python3 to run, after skipping (or, under CI, failing) t when there is none.
func Python(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 is not installed, and CI needs it (bash scripts/install-test-tools.sh installs it): %v", err)
		}
		t.Skipf("python3 is not installed (bash scripts/install-test-tools.sh installs it): %v", err)
	}
	return path
}

// Command returns a command that runs the script with python3: "server [--protocol N]" or
// "client --name NAME --port PORT [--protocol N]". It skips t as Python does.
func Command(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	py := Python(t)
	path := filepath.Join(t.TempDir(), "classic_chat.py")
	if err := os.WriteFile(path, script, 0o644); err != nil {
		t.Fatal(err)
	}
	return exec.Command(py, append([]string{path}, args...)...)
}
