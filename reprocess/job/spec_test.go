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
	if b, _ := job.Load("testdata/backup.good.yaml"); b.Source.Splits != 0 || len(b.Source.Snapshots) != 2 || b.Source.AsOf.Day() != 20 {
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
		{"time.bad.yaml", []string{"source.created_to (line 6)", `"2025-13-01" is not a time`, "RFC 3339"}},
		{"backup.bad.yaml", []string{"source.snapshots: list the snapshot", "source.splits: want 1 to 65536, or none to size them from the snapshot, got -1"}},
		{"service.bad.yaml", []string{`transform.service.url: "ftp://nope"`, "transform.service.fields", "transform.service.batch",
			"transform.service.rate", "transform.service.timeout", "transform.workflow: belongs to the workflow transform"}},
		{"stock.bad.yaml", []string{"transform.dir", "transform.format", "csv", "transform.index: index, mapping_version, alias and mapping belong to the reindex"}},
		{"iceberg.bad.yaml", []string{"transform.catalog: format iceberg names its catalog"}},
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

// An inline id list is checked like the lines of a file, each error naming
// its index.
func TestInlineIDs(t *testing.T) {
	const good, v4 = "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "6ba7b810-9dad-41d1-80b4-00c04fd430c8"
	many := strings.TrimSuffix(strings.Repeat(good+", ", job.MaxIDs+1), ", ")
	for _, tc := range []struct {
		source string
		want   []string // parts of the error; none: valid
	}{
		{"{kind: ids, ids: [" + good + ", " + good + "]}", nil},
		{"{kind: ids, ids: [" + good + ", nope, " + v4 + "]}", []string{`source.ids[1]: asset id "nope"`, "source.ids[2]: ", "version 4"}},
		{"{kind: ids, ids: [" + good + "], file: ids.txt}", []string{"source.ids: give source.file or source.ids, not both"}},
		{"{kind: ids, ids: [" + good + "], column: asset_id}", []string{"source.column: only for source.file"}},
		{"{kind: ids}", []string{"source.file: give a path, - for standard input, or the ids themselves as source.ids"}},
		{"{kind: ids, ids: []}", []string{"source.file: give"}},
		{"{kind: cassandra, types: [image], created_from: 2025-01-01T00:00:00Z, ids: [" + good + "]}", []string{"source.ids: only for kind ids"}},
		{"{kind: ids, ids: [" + many + "]}", []string{"source.ids: 100001 ids, at most 100000"}},
		{"{kind: ids, ids: [" + strings.Repeat("x, ", 25) + "x]}", []string{"source.ids[19]", "... and 6 more bad ids"}},
	} {
		s, err := job.Parse([]byte("name: inline\nsource: " + tc.source + "\ntransform: {name: orientation, version: 1}\n"))
		if err != nil {
			t.Fatal(err)
		}
		j, err := job.Compile(s)
		if tc.want == nil {
			if err != nil || len(j.IDs) != 2 || j.IDs[0].String() != good {
				t.Errorf("%s: %v; want 2 ids", tc.source[:40], err)
			}
			continue
		}
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%.60s: %v; want an error with %q", tc.source, err, w)
			}
		}
		if err != nil && strings.Contains(err.Error(), "source.ids[20]") {
			t.Errorf("%.60s: more than 20 bad ids listed", tc.source)
		}
	}
}

// Splitting wide partitions is on by default for the cassandra source,
// off with split_after: 0, and bad values name their field.
func TestSplitSettings(t *testing.T) {
	const base = "name: s\nsource:\n  kind: cassandra\n  types: [image]\n  created_from: 2025-01-01T00:00:00Z\n%stransform: {name: t, version: 1, facts: {a: '\"x\"'}}\n"
	for _, tc := range []struct {
		extra     string
		after     int
		ways      int
		wantError []string
	}{
		{"", job.DefaultSplitAfter, job.DefaultSplitWays, nil},
		{"  split_after: 0\n", 0, job.DefaultSplitWays, nil},
		{"  split_after: 1000\n  split_ways: 16\n", 1000, 16, nil},
		{"  split_after: -1\n  split_ways: 1\n", 0, 0, []string{"source.split_after: want 0 (never split) or more ids, got -1", "source.split_ways: want 2 to 64, got 1"}},
	} {
		s, err := job.Parse([]byte(strings.Replace(base, "%s", tc.extra, 1)))
		if err == nil {
			_, err = job.Compile(s)
		}
		if tc.wantError != nil {
			for _, w := range tc.wantError {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("%q: error %v does not say %q", tc.extra, err, w)
				}
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.extra, err)
			continue
		}
		if *s.Source.SplitAfter != tc.after || s.Source.SplitWays != tc.ways {
			t.Errorf("%q: split_after %d, split_ways %d; want %d, %d", tc.extra, *s.Source.SplitAfter, s.Source.SplitWays, tc.after, tc.ways)
		}
	}
}

// source.since belongs to the backup source and names an older snapshot.
func TestBackupSince(t *testing.T) {
	for _, tc := range []struct {
		source string
		want   string // part of the error; "": valid
	}{
		{"{kind: backup, snapshots: [/b/new], since: /b/old.sstables.json}", ""},
		{"{kind: backup, snapshots: [/b/new], since: s3://bk/old}", ""},
		{"{kind: cassandra, types: [image], created_from: 2025-01-01T00:00:00Z, since: /b/old}", "source.since: only for kind backup"},
		{"{kind: backup, snapshots: [/b/new, /b/old], since: /b/old}", `source.since: "/b/old" is also in source.snapshots`},
	} {
		s, err := job.Parse([]byte("name: since\nsource: " + tc.source + "\ntransform: {name: orientation, version: 1}\n"))
		if err != nil {
			t.Fatal(err)
		}
		j, err := job.Compile(s)
		switch {
		case tc.want == "" && (err != nil || j.Source.Since == ""):
			t.Errorf("%s: %v; want it valid, since kept", tc.source, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v; want an error saying %q", tc.source, err, tc.want)
		}
	}
}
