package run_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/run"
	"github.com/reprocess/reprocess/reprocess/scan"
)

// A source the spec cannot make is ErrInvalid with its cause's text; an
// inline id list is the source as given.
func TestSourceErrorsAreInvalid(t *testing.T) {
	const id = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	bad := filepath.Join(t.TempDir(), "bad.txt")
	if err := os.WriteFile(bad, []byte(id+"\nnot-an-id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		source, want string // want: a part of the error; empty: a source of 2 ids
	}{
		{"{kind: ids, ids: [" + id + ", " + id + "]}", ""},
		{"{kind: ids, file: " + filepath.Join(t.TempDir(), "missing") + "}", "no such file"},
		{"{kind: ids, file: " + bad + "}", `line 2: asset id "not-an-id"`},
		{"{kind: ids, file: '-'}", "standard input is not available"},
	} {
		s, err := job.Parse([]byte("name: src\nsource: " + tc.source + "\ntransform: {name: orientation, version: 1}\n"))
		if err != nil {
			t.Fatal(err)
		}
		j, err := job.Compile(s)
		if err != nil {
			t.Fatal(err)
		}
		src, err := (&run.Env{}).Source(context.Background(), j, nil)
		if tc.want == "" {
			if ids, ok := src.(*scan.IDs); err != nil || !ok || ids.Len() != 2 {
				t.Errorf("%s: %v, %v; want 2 ids", tc.source, src, err)
			}
			continue
		}
		if !errors.Is(err, run.ErrInvalid) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "cannot run as given") {
			t.Errorf("%s: %v; want ErrInvalid saying only %q", tc.source, err, tc.want)
		}
	}
}
