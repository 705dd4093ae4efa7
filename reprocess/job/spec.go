// Package job is the job spec: what to scan, which assets to keep, which
// transform version to apply, how fast. A spec is parsed strictly and
// validated completely before anything runs: unknown fields, bad values and
// CEL that does not compile or type-check are errors naming the field.
package job

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/expr"
	"github.com/reprocess/reprocess/reprocess/throttle"
)

// Spec is a job as its author writes it (YAML).
type Spec struct {
	// Name identifies the job; checkpoints are kept under it, so running
	// a spec with the same name again resumes it.
	Name      string          `yaml:"name"`
	Source    Source          `yaml:"source"`
	Filter    string          `yaml:"filter,omitempty"` // CEL, boolean; needs a read of each asset
	Transform Transform       `yaml:"transform"`
	Mode      string          `yaml:"mode,omitempty"` // async (Kafka; default) or sync (in-process)
	Rate      throttle.Config `yaml:"rate,omitempty"`
	// Budget is how many dead letters the job may have before it fails.
	Budget Budget `yaml:"budget,omitempty"`
	// CostLimit bounds each CEL evaluation (default expr.DefaultCostLimit).
	CostLimit uint64 `yaml:"cost_limit,omitempty"`

	// Text is the spec as written; workers compile CEL transforms from it.
	Text string `yaml:"-"`
}

// Source kinds.
const (
	SourceCassandra     = "cassandra"
	SourceElasticsearch = "elasticsearch"
	SourceIDs           = "ids"
	SourceBackup        = "backup"
)

// Source says where asset ids come from.
type Source struct {
	// Kind is cassandra (the store's (type, bucket, shard) paging index,
	// embedded store included), elasticsearch, ids or backup.
	Kind string `yaml:"kind"`

	// cassandra
	Types       []string  `yaml:"types,omitempty"`
	CreatedFrom time.Time `yaml:"created_from,omitempty"`
	CreatedTo   time.Time `yaml:"created_to,omitempty"` // default: now
	PageSize    int       `yaml:"page_size,omitempty"`
	Concurrency int       `yaml:"concurrency,omitempty"` // partitions walked at once
	// SplitAfter: a partition whose walk has read this many ids has the
	// rest of it split into SplitWays time ranges walked at once; 0 never
	// splits. Default DefaultSplitAfter, DefaultSplitWays.
	SplitAfter *int `yaml:"split_after,omitempty"`
	SplitWays  int  `yaml:"split_ways,omitempty"`

	// elasticsearch
	Index     string         `yaml:"index,omitempty"`
	Query     map[string]any `yaml:"query,omitempty"`    // query DSL, as YAML or JSON
	IDField   string         `yaml:"id_field,omitempty"` // document field with the asset id; default _id
	KeepAlive time.Duration  `yaml:"keep_alive,omitempty"`

	// ids: a file, or the ids themselves (at most MaxIDs)
	File   string   `yaml:"file,omitempty"`   // path, or - for standard input
	Column string   `yaml:"column,omitempty"` // CSV column: header name or 1-based number; empty: one id per line
	IDs    []string `yaml:"ids,omitempty"`    // timeuuids, in the order to emit them

	// backup: snapshots of the assets table, read from their SSTables
	// with no load on the live cluster. Several (one per replica) merge.
	Snapshots []string  `yaml:"snapshots,omitempty"` // directories or s3://bucket/prefix URLs
	AsOf      time.Time `yaml:"as_of,omitempty"`     // TTLs are judged at this time; default the snapshot's created_at
	Splits    int       `yaml:"splits,omitempty"`    // token ranges, one scan task each; absent: sized from the snapshot
	// Since makes the scan incremental: an older snapshot of the table
	// (directory or s3:// URL) or the SSTable manifest an export of it
	// wrote; only the assets of partitions written since are handed out,
	// deleted ones included.
	Since string `yaml:"since,omitempty"`
}

// Transform names the transform a job applies.
type Transform struct {
	Name    string `yaml:"name"`
	Version int    `yaml:"version"`
	// Facts makes a declarative transform: fact name to CEL expression.
	Facts map[string]string `yaml:"facts,omitempty"`
	// DryRun, for the delete transform only, counts what would be deleted
	// and deletes nothing. It defaults to true; false needs the
	// --confirm-delete flag when the job starts.
	DryRun *bool `yaml:"dry_run,omitempty"`

	// reindex: the target index and the mapping version written into
	// every document.
	Index          string `yaml:"index,omitempty"`
	MappingVersion int    `yaml:"mapping_version,omitempty"`
	// Alias, if set, makes the reindex zero-downtime: the alias is
	// switched to Index, atomically, once the job succeeds.
	Alias string `yaml:"alias,omitempty"`
	// Mapping, if set, is the body (settings, mappings) Index is created
	// with before anything is written to it.
	Mapping map[string]any `yaml:"mapping,omitempty"`

	// export: the directory, jsonl, parquet or iceberg, and the file size
	// to roll at; for iceberg the catalog (a SQLite file or a REST URL)
	// and the table (namespace.name) each rolled file is appended to.
	Dir       string `yaml:"dir,omitempty"`
	Format    string `yaml:"format,omitempty"`
	RollBytes int64  `yaml:"roll_bytes,omitempty"`
	Catalog   string `yaml:"catalog,omitempty"`
	Table     string `yaml:"table,omitempty"`

	// service_facts: the endpoint facts are asked from.
	Service *Service `yaml:"service,omitempty"`
	// reverse_index: the field indexed and its table.
	ReverseIndex *ReverseIndex `yaml:"reverse_index,omitempty"`
	// workflow: the workflow triggered and where its events go.
	Workflow *Workflow `yaml:"workflow,omitempty"`
}

// StockNames are the transforms every deployment has, built from the spec.
var StockNames = []string{"delete", "reindex", "export", "service_facts", "reverse_index", "workflow"}

// Stock reports whether the transform is one of StockNames.
func (t Transform) Stock() bool { return slices.Contains(StockNames, t.Name) }

// Deletes reports whether the job really deletes assets.
func (t Transform) Deletes() bool {
	return t.Name == "delete" && t.DryRun != nil && !*t.DryRun
}

// Defaults.
const (
	DefaultPageSize    = 500
	DefaultConcurrency = 4
	DefaultKeepAlive   = 5 * time.Minute
	DefaultSplitAfter  = 50_000
	DefaultSplitWays   = 8
	// MaxIDs caps an inline id list (source.ids); longer lists go in a file.
	MaxIDs = 100_000
)

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)

// Parse reads a spec strictly (unknown fields are errors) and fills in
// defaults. It does not validate; Compile does.
func Parse(data []byte) (Spec, error) {
	var s Spec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return s, errors.New("job spec is empty")
		}
		var pe *time.ParseError
		if errors.As(err, &pe) {
			field, line := locate(data, pe.Value)
			return s, fmt.Errorf("job spec: %s (line %d): %q is not a time: want RFC 3339, e.g. 2025-01-01T00:00:00Z", field, line, pe.Value)
		}
		return s, fmt.Errorf("job spec: %w", err)
	}
	s.Text = string(data)
	if s.Mode == "" {
		s.Mode = "async"
	}
	if s.CostLimit == 0 {
		s.CostLimit = expr.DefaultCostLimit
	}
	if s.Source.PageSize == 0 {
		s.Source.PageSize = DefaultPageSize
	}
	if s.Source.Concurrency == 0 {
		s.Source.Concurrency = DefaultConcurrency
	}
	if s.Source.Kind == SourceCassandra {
		if s.Source.SplitAfter == nil {
			s.Source.SplitAfter = new(int)
			*s.Source.SplitAfter = DefaultSplitAfter
		}
		if s.Source.SplitWays == 0 {
			s.Source.SplitWays = DefaultSplitWays
		}
	}
	if s.Source.Kind == SourceElasticsearch {
		if s.Source.IDField == "" {
			s.Source.IDField = "_id"
		}
		if s.Source.KeepAlive == 0 {
			s.Source.KeepAlive = DefaultKeepAlive
		}
	}
	return s, nil
}

// locate finds the field holding the scalar value in a YAML document: its
// dotted path and line ("?" and 0 when not found).
func locate(data []byte, value string) (field string, line int) {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return "?", 0
	}
	var walk func(n *yaml.Node, path string) bool
	walk = func(n *yaml.Node, path string) bool {
		switch n.Kind {
		case yaml.DocumentNode:
			return len(n.Content) > 0 && walk(n.Content[0], path)
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := strings.TrimPrefix(path+"."+k.Value, ".")
				if v.Kind == yaml.ScalarNode && v.Value == value {
					field, line = p, v.Line
					return true
				}
				if walk(v, p) {
					return true
				}
			}
		}
		return false
	}
	if !walk(&doc, "") {
		return "?", 0
	}
	return field, line
}

// Load reads and parses a spec file.
func Load(path string) (Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Spec{}, err
	}
	s, err := Parse(data)
	if err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Fingerprint identifies what a spec does: its source, filter, transform
// and mode, but not how fast or how tolerant it runs (rate, budget). Two
// runs of one job name must have the same fingerprint.
func Fingerprint(s Spec) string {
	s.Text, s.Rate, s.Budget = "", throttle.Config{}, Budget{}
	b, err := json.Marshal(s)
	if err != nil {
		return "unprintable spec: " + err.Error()
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Rewritten returns s with its Text written again from its fields, for a
// spec changed after parsing (the API resolves its paths): the text is
// what the other processes of the job read.
func Rewritten(s Spec) (Spec, error) {
	b, err := yaml.Marshal(s)
	if err != nil {
		return s, fmt.Errorf("job spec: %w", err)
	}
	s.Text = string(b)
	return s, nil
}

// Open reads, parses and compiles the spec file at path.
func Open(path string) (*Job, error) {
	s, err := Load(path)
	if err != nil {
		return nil, err
	}
	return Compile(s)
}

// Read parses and compiles a spec's text (a spec saved with its job).
func Read(data []byte) (*Job, error) {
	s, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return Compile(s)
}

// Job is a validated spec with its expressions compiled.
type Job struct {
	Spec
	Filter *expr.Filter // nil: every asset
	Facts  *expr.Facts  // nil: a Go transform
	IDs    []assets.ID  // source.ids, parsed
}

// Compile validates every field and compiles the CEL, reporting all
// problems at once, each with its field.
func Compile(s Spec) (*Job, error) {
	j := &Job{Spec: s}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf(field+": "+format, args...))
	}
	if !namePattern.MatchString(s.Name) {
		bad("name", "%q: want lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", s.Name)
	}
	errs = append(errs, s.Source.validate())
	j.IDs, errs = parseIDs(s.Source.IDs, errs)
	if s.Filter != "" {
		f, err := expr.CompileFilter(s.Filter, s.CostLimit)
		if err != nil {
			bad("filter", "%v", err)
		}
		j.Filter = f
	}
	if !namePattern.MatchString(s.Transform.Name) {
		bad("transform.name", "%q: want lower-case letters, digits, '.', '_' or '-'", s.Transform.Name)
	}
	if s.Transform.Version < 1 {
		bad("transform.version", "want >= 1, got %d", s.Transform.Version)
	}
	if len(s.Transform.Facts) > 0 {
		f, err := expr.CompileFacts(s.Transform.Facts, s.CostLimit)
		if err != nil {
			bad("transform.facts", "%v", err)
		}
		j.Facts = f
	}
	errs = append(errs, s.Transform.validateStock())
	if s.Mode != "async" && s.Mode != "sync" {
		bad("mode", "want async or sync, got %q", s.Mode)
	}
	errs = append(errs, s.Rate.Validate("rate"), s.Budget.validate())
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("job spec %q is invalid:\n%w", s.Name, err)
	}
	return j, nil
}

func (src Source) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("source."+field+": "+format, args...))
	}
	if src.PageSize < 1 || src.PageSize > 10000 {
		bad("page_size", "want 1 to 10000, got %d", src.PageSize)
	}
	if src.Concurrency < 1 || src.Concurrency > 256 {
		bad("concurrency", "want 1 to 256, got %d", src.Concurrency)
	}
	if len(src.IDs) > 0 && src.Kind != SourceIDs {
		bad("ids", "only for kind ids")
	}
	if src.Since != "" && src.Kind != SourceBackup {
		bad("since", "only for kind backup")
	}
	if src.Kind == SourceBackup && src.Since != "" && slices.Contains(src.Snapshots, src.Since) {
		bad("since", "%q is also in source.snapshots: name the older snapshot", src.Since)
	}
	switch src.Kind {
	case SourceCassandra:
		if len(src.Types) == 0 {
			bad("types", "list at least one asset type")
		}
		if src.CreatedFrom.IsZero() {
			bad("created_from", "set the start of the creation-time range (RFC 3339)")
		}
		if !src.CreatedTo.IsZero() && !src.CreatedTo.After(src.CreatedFrom) {
			bad("created_to", "%s is not after created_from %s", src.CreatedTo.Format(time.RFC3339), src.CreatedFrom.Format(time.RFC3339))
		}
		if src.SplitAfter != nil && *src.SplitAfter < 0 {
			bad("split_after", "want 0 (never split) or more ids, got %d", *src.SplitAfter)
		}
		if src.SplitWays < 2 || src.SplitWays > 64 {
			bad("split_ways", "want 2 to 64, got %d", src.SplitWays)
		}
	case SourceElasticsearch:
		if src.Index == "" {
			bad("index", "name the index (or alias) to query")
		}
		if src.KeepAlive < time.Second {
			bad("keep_alive", "want at least 1s, got %s", src.KeepAlive)
		}
	case SourceIDs:
		switch {
		case src.File == "" && len(src.IDs) == 0:
			bad("file", "give a path, - for standard input, or the ids themselves as source.ids")
		case src.File != "" && len(src.IDs) > 0:
			bad("ids", "give source.file or source.ids, not both")
		case len(src.IDs) > 0 && src.Column != "":
			bad("column", "only for source.file")
		case len(src.IDs) > MaxIDs:
			bad("ids", "%d ids, at most %d in a spec: put longer lists in a file", len(src.IDs), MaxIDs)
		}
	case SourceBackup:
		if len(src.Snapshots) == 0 {
			bad("snapshots", "list the snapshot directories or s3:// URLs of the assets table")
		}
		for i, loc := range src.Snapshots {
			if loc == "" {
				bad(fmt.Sprintf("snapshots[%d]", i), "empty location")
			}
		}
		if src.Splits < 0 || src.Splits > 65536 {
			bad("splits", "want 1 to 65536, or none to size them from the snapshot, got %d", src.Splits)
		}
	case "":
		bad("kind", "missing: cassandra, elasticsearch, ids or backup")
	default:
		bad("kind", "%q: want cassandra, elasticsearch, ids or backup", src.Kind)
	}
	return errors.Join(errs...)
}

// maxReported bounds how many bad ids of source.ids one error lists.
const maxReported = 20

// parseIDs parses source.ids, adding an error naming each bad one (the
// first maxReported) to errs.
func parseIDs(list []string, errs []error) ([]assets.ID, []error) {
	if len(list) > MaxIDs {
		return nil, errs // validate said so
	}
	ids := make([]assets.ID, 0, len(list))
	bad := 0
	for i, s := range list {
		id, err := assets.ParseID(s)
		if err != nil {
			if bad++; bad <= maxReported {
				errs = append(errs, fmt.Errorf("source.ids[%d]: %w", i, err))
			}
			continue
		}
		ids = append(ids, id)
	}
	if bad > maxReported {
		errs = append(errs, fmt.Errorf("source.ids: ... and %d more bad ids", bad-maxReported))
	}
	return ids, errs
}

// DefaultRollBytes is the export file size at which a new file starts.
const DefaultRollBytes = 128 << 20

func (t Transform) validateStock() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("transform."+field+": "+format, args...))
	}
	if t.DryRun != nil && t.Name != "delete" {
		bad("dry_run", "only the delete transform has a dry run")
	}
	if (t.Index != "" || t.MappingVersion != 0 || t.Alias != "" || t.Mapping != nil) && t.Name != "reindex" {
		bad("index", "index, mapping_version, alias and mapping belong to the reindex transform")
	}
	if (t.Dir != "" || t.Format != "" || t.RollBytes != 0 || t.Catalog != "" || t.Table != "") && t.Name != "export" {
		bad("dir", "dir, format, roll_bytes, catalog and table belong to the export transform")
	}
	switch t.Name {
	case "reindex":
		if t.Index == "" {
			bad("index", "name the Elasticsearch index to write")
		}
		if t.MappingVersion < 1 {
			bad("mapping_version", "want >= 1, got %d", t.MappingVersion)
		}
		if t.Alias != "" && t.Alias == t.Index {
			bad("alias", "%q is the index itself: name a new index to switch the alias to", t.Alias)
		}
	case "export":
		if t.Dir == "" {
			bad("dir", "name the directory to write files under")
		}
		if t.Format != "jsonl" && t.Format != "parquet" && t.Format != "iceberg" {
			bad("format", "want jsonl, parquet or iceberg, got %q", t.Format)
		}
		if t.Format == "iceberg" && (t.Catalog == "" || t.Table == "") {
			bad("catalog", "format iceberg names its catalog (a SQLite file or a REST URL) and table (namespace.name)")
		}
		if t.Format != "iceberg" && (t.Catalog != "" || t.Table != "") {
			bad("catalog", "catalog and table belong to format iceberg")
		}
		if t.RollBytes < 0 {
			bad("roll_bytes", "want >= 0 (0: %d), got %d", DefaultRollBytes, t.RollBytes)
		}
	}
	t.validateOwn(bad)
	return errors.Join(errs...)
}
