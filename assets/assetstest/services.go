package assetstest

import (
	"os"
	"strings"
	"testing"
)

// RealService returns the address a real service's integration test uses,
// from the environment variable env (set by `make test` from
// `deployments/local/services env`). Without it the test is skipped, loudly,
// except under CI (CI=true), where a missing service fails the run.
func RealService(t testing.TB, env, what string) []string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(env))
	if v == "" {
		msg := what + " is not configured: set " + env + " or run `make test`, which starts it (deployments/local/services up)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPING real-service test: " + msg)
	}
	return strings.Split(v, ",")
}
