// Package need is the one guard of every test that needs something from
// outside the Go build: a real service, a test oracle, a tool or the
// shared fixtures. What is missing skips the test, loudly, on a
// developer's machine, and fails it under CI (CI=true), so a CI run never
// passes by leaving a check out.
package need

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Missing skips t saying what is missing and how to get it, or fails t
// under CI.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal("missing under CI: " + msg)
	}
	t.Skip("SKIPPING: " + msg)
}

// Service returns the addresses a real service's test uses, from the
// environment variable env (set by `make test` from
// `deployments/local/services env`).
func Service(t testing.TB, env, what string) []string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(env))
	if v == "" {
		Missing(t, what+" is not configured: set "+env+" or run `make test`, which starts it (deployments/local/services up)")
	}
	return strings.Split(v, ",")
}

// Python returns the oracles' Python (REPROCESS_TEST_PYTHON, else
// python3) once it imports every one of modules.
func Python(t testing.TB, modules ...string) string {
	t.Helper()
	py := os.Getenv("REPROCESS_TEST_PYTHON")
	if py == "" {
		py = "python3"
	}
	if out, err := exec.Command(py, "-c", "import "+strings.Join(modules, ", ")).CombinedOutput(); err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		Missing(t, py+" cannot import "+strings.Join(modules, ", ")+" (make test installs the oracles in bin/venv; set REPROCESS_TEST_PYTHON to a Python with them): "+err.Error()+": "+lines[len(lines)-1])
	}
	return py
}

// Tool returns the path of the named program, which
// deployments/local/install-deps installs.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name+" is not installed: deployments/local/install-deps installs it")
	}
	return p
}

// Fixtures returns the directory of the real Cassandra SSTable fixtures
// (REPROCESS_TEST_SSTABLE_FIXTURES, else the team's shared/ folder beside
// the repository).
func Fixtures(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("REPROCESS_TEST_SSTABLE_FIXTURES")
	if dir == "" {
		dir = filepath.Join(root(t), "..", "shared", "fixtures", "cassandra-sstables")
	}
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.tsv")); err != nil {
		Missing(t, "the SSTable fixtures are not at "+dir+" (set REPROCESS_TEST_SSTABLE_FIXTURES): "+err.Error())
	}
	return dir
}

// root is the repository's root: the nearest folder up holding go.mod.
func root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = up
	}
}
