package need_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/reprocess/reprocess/assets/assetstest/need"
)

// TestMissingFailsUnderCI runs a test that lacks an oracle, a service and
// a tool in a child: under CI=true each fails the run; elsewhere each
// skips, saying what is missing.
func TestMissingFailsUnderCI(t *testing.T) {
	if what := os.Getenv("NEED_TEST_CHILD"); what != "" {
		switch what {
		case "python":
			need.Python(t, "no_such_oracle_module")
		case "service":
			need.Service(t, "REPROCESS_TEST_NO_SUCH_SERVICE", "a service")
		case "tool":
			need.Tool(t, "no-such-tool-installed")
		case "fixtures":
			need.Fixtures(t)
		}
		return
	}
	for _, what := range []string{"python", "service", "tool", "fixtures"} {
		for _, ci := range []string{"true", ""} {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMissingFailsUnderCI$", "-test.v")
			cmd.Env = append(os.Environ(), "NEED_TEST_CHILD="+what, "CI="+ci, "REPROCESS_TEST_SSTABLE_FIXTURES=/no/such/fixtures")
			out, err := cmd.CombinedOutput()
			switch {
			case ci == "true" && (err == nil || !strings.Contains(string(out), "--- FAIL") || !strings.Contains(string(out), "missing under CI")):
				t.Errorf("%s missing under CI: %v\n%s\nwant the run to fail", what, err, out)
			case ci == "" && (err != nil || !strings.Contains(string(out), "--- SKIP") || !strings.Contains(string(out), "SKIPPING")):
				t.Errorf("%s missing off CI: %v\n%s\nwant a loud skip", what, err, out)
			}
		}
	}
}

// TestEveryCheckGoesThroughTheGuard reads the repository's Go files: a
// test skips, looks up a program or reads a real service's address only
// through need, so no check can pass under CI by leaving itself out.
func TestEveryCheckGoesThroughTheGuard(t *testing.T) {
	bypass := regexp.MustCompile(`\bt\.Skip(f|Now)?\(|exec\.LookPath\(|Getenv\("REPROCESS_TEST_(CASSANDRA_HOSTS|KAFKA_BROKERS|ES_URL|PYTHON|NODETOOL|SSTABLEDUMP|KAFKA_RUN|BENCH_SSTABLES|SSTABLE_FIXTURES)"\)`)
	root, _ := filepath.Abs("../../..")
	var found int
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "bin" || d.Name() == "testout" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || filepath.Dir(path) == filepath.Join(root, "assets", "assetstest", "need") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		found++
		for i, line := range strings.Split(string(src), "\n") {
			if bypass.MatchString(line) {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s:%d goes around need: %s", rel, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil || found < 100 {
		t.Fatalf("read %d Go files under %s (%v); want the repository's", found, root, err)
	}
}
