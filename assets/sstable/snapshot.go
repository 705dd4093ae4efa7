package sstable

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Snapshot is the SSTables of one table as of one moment: a directory
// `nodetool snapshot` wrote (manifest.json, schema.cql and hard links to
// the SSTables), an incremental-backups directory, or a plain table
// directory. Several directories (one per replica, or a snapshot plus the
// backups taken after it) are read as one and merged.
type Snapshot struct {
	Dirs      []string
	Tables    []*Table
	Schema    *Schema   // nil when no directory has schema.cql
	CreatedAt time.Time // the newest manifest's created_at; zero without one

	schemaDir string // the directory of Schema's schema.cql
}

// manifest is manifest.json.
type manifest struct {
	Files     []string   `json:"files"`
	CreatedAt *time.Time `json:"created_at"`
}

// OpenSnapshot opens the SSTables of one or more snapshot directories. The
// manifest, where there is one, is the authoritative list of SSTables; a
// directory without one contributes every *-Data.db it holds.
func OpenSnapshot(dirs ...string) (*Snapshot, error) {
	if len(dirs) == 0 {
		return nil, errors.New("sstable: no snapshot directory given")
	}
	s := &Snapshot{Dirs: dirs}
	for _, dir := range dirs {
		files, err := s.readDir(dir)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			t, err := Open(f)
			if err != nil {
				return nil, err
			}
			s.Tables = append(s.Tables, t)
		}
	}
	if len(s.Tables) == 0 {
		return nil, fmt.Errorf("sstable: no SSTables in %v", dirs)
	}
	for _, t := range s.Tables {
		if err := s.Schema.check(t); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Snapshot) readDir(dir string) ([]string, error) {
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("sstable: snapshot: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("sstable: snapshot %s is not a directory", dir)
	}
	if cql, err := os.ReadFile(filepath.Join(dir, "schema.cql")); err == nil {
		schema, err := ParseSchema(string(cql))
		if err != nil {
			return nil, fmt.Errorf("sstable: %s: %w", dir, err)
		}
		if s.Schema != nil && (s.Schema.Keyspace != schema.Keyspace || s.Schema.Table != schema.Table) {
			return nil, fmt.Errorf("sstable: %s holds %s.%s, not %s.%s", dir, schema.Keyspace, schema.Table, s.Schema.Keyspace, s.Schema.Table)
		}
		if s.Schema != nil {
			if diff := s.Schema.diff(schema); diff != "" {
				return nil, fmt.Errorf("sstable: the schema.cql files of %s and %s disagree (%s): give snapshots of one schema", s.schemaDir, dir, diff)
			}
		}
		s.Schema, s.schemaDir = schema, dir
	}
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if errors.Is(err, os.ErrNotExist) {
		files, err := filepath.Glob(filepath.Join(dir, "*-Data.db"))
		sort.Strings(files)
		return files, err
	}
	if err != nil {
		return nil, fmt.Errorf("sstable: snapshot: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("sstable: %s: manifest.json: %w", dir, err)
	}
	if m.CreatedAt != nil && m.CreatedAt.After(s.CreatedAt) {
		s.CreatedAt = m.CreatedAt.UTC()
	}
	files := make([]string, 0, len(m.Files))
	for _, f := range m.Files {
		if filepath.IsAbs(f) || filepath.Base(f) != f { // secondary-index SSTables live in .<index>/
			continue
		}
		files = append(files, filepath.Join(dir, f))
	}
	return files, nil
}

// WriteInfo writes what `reprocess sstable info` prints: the table, its
// keys and created_at, then one line per SSTable (version, format,
// partitioner, compression, data bytes, partitions), and the plan a read
// of it would use (see Plan).
func (s *Snapshot) WriteInfo(out io.Writer) error {
	if s.Schema != nil {
		fmt.Fprintf(out, "table %s.%s, key %v, clustering %v, created %s\n", s.Schema.Keyspace, s.Schema.Table,
			s.Schema.PartitionKey, s.Schema.Clustering, s.CreatedAt.Format(time.RFC3339))
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SSTABLE\tFORMAT\tPARTITIONER\tCOMPRESSION\tDATA BYTES\tPARTITIONS")
	for _, t := range s.Tables {
		idx, err := t.Index()
		if err != nil {
			return err
		}
		comp := "none"
		if t.Compression != nil {
			comp = strings.TrimPrefix(t.Compression.Compressor, "org.apache.cassandra.io.compress.")
		}
		fmt.Fprintf(tw, "%s\t%s-%s\t%s\t%s\t%d\t%d\n", t.Dir+"/"+t.Prefix, t.Version, t.Format,
			strings.TrimPrefix(t.Partitioner, "org.apache.cassandra.dht."), comp, t.DataLength(), len(idx))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(out, Plan(s, Budget{}))
	return err
}
