package job_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reprocess/reprocess/reprocess/job"
)

func TestGoodSpecs(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.good.yaml")
	if len(files) == 0 {
		t.Fatal("no good specs")
	}
	for _, f := range files {
		s, err := job.Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if _, err := job.Compile(s); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	s, _ := job.Load("testdata/resolution.good.yaml")
	j, err := job.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	if j.Filter == nil || j.Facts == nil || j.Rate.TargetP99 != 20*time.Millisecond || j.Source.CreatedFrom.Year() != 2025 {
		t.Errorf("compiled job: %+v", j)
	}
	es, _ := job.Load("testdata/es.good.yaml")
	if b, _ := job.Load("testdata/backup.good.yaml"); b.Source.Splits != job.DefaultSplits || len(b.Source.Snapshots) != 2 || b.Source.AsOf.Day() != 20 {
		t.Errorf("backup defaults not filled: %+v", b)
	}
	if es.Source.IDField != "_id" || es.Source.KeepAlive != job.DefaultKeepAlive || es.Mode != "async" || es.Source.Query["term"] == nil {
		t.Errorf("defaults not filled: %+v", es.Source)
	}
}

func TestBadSpecs(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"unknown-field.bad.yaml", []string{"typs", "line 4"}},
		{"everything.bad.yaml", []string{"name:", "source.page_size", "source.types", "source.created_from", "filter:", "no matching overload",
			"transform.version", "transform.facts", "nope", "mode:", "turbo", "rate.limit"}},
		{"kind.bad.yaml", []string{"source.kind", "postgres"}},
		{"backup.bad.yaml", []string{"source.snapshots: list the snapshot", "source.splits: want 1 to 65536, got -1"}},
		{"stock.bad.yaml", []string{"transform.dir", "transform.format", "csv", "transform.index: index and mapping_version belong to the reindex"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			s, err := job.Load(filepath.Join("testdata", tc.file))
			if err == nil {
				_, err = job.Compile(s)
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
	if _, err := job.Parse(nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty spec: %v", err)
	}
}
