package job

import (
	"cmp"
	"net/url"
	"regexp"
	"time"
)

// Service is the endpoint the service_facts transform asks for facts: it
// posts the Fields of a batch of assets and writes the facts returned.
type Service struct {
	URL    string   `yaml:"url"`
	Fields []string `yaml:"fields"` // metadata keys sent with each asset
	// Batch is the most assets per request (default DefaultServiceBatch).
	Batch int `yaml:"batch,omitempty"`
	// Rate is how many requests per second the endpoint allows (0: no
	// limit but its own 429s); Concurrency, how many may be in flight.
	Rate        float64 `yaml:"rate,omitempty"`
	Concurrency int     `yaml:"concurrency,omitempty"`
	// Timeout bounds one request; Tries, the requests one batch gets on
	// timeouts, 429 and 5xx answers.
	Timeout time.Duration `yaml:"timeout,omitempty"`
	Tries   int           `yaml:"tries,omitempty"`
}

// Service defaults.
const (
	DefaultServiceBatch       = 50
	DefaultServiceConcurrency = 2
	DefaultServiceTimeout     = 30 * time.Second
	DefaultServiceTries       = 5
)

// ReverseIndex is the table the reverse_index transform writes:
// assets_by_<field>, one row per (value of the field, asset id).
type ReverseIndex struct {
	Field string `yaml:"field"` // metadata key
	// Table defaults to assets_by_<field>; it is created if missing, in
	// the store's keyspace.
	Table string `yaml:"table,omitempty"`
}

// TableName is the reverse index's table.
func (r ReverseIndex) TableName() string {
	if r.Table != "" {
		return r.Table
	}
	return "assets_by_" + r.Field
}

// Workflow is what the workflow transform triggers: one CloudEvent per
// asset, to a Kafka topic or an HTTP endpoint.
type Workflow struct {
	Name  string `yaml:"name"`
	Topic string `yaml:"topic,omitempty"`
	URL   string `yaml:"url,omitempty"`
	// Source is the events' CloudEvents source (default /reprocess/<job>).
	Source string `yaml:"source,omitempty"`
	// Fields are the metadata keys in each event's data (empty: all).
	Fields []string `yaml:"fields,omitempty"`
}

// identifier is a Cassandra table name or column-safe field name.
var identifier = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)

// validateOwn checks the blocks of the service_facts, reverse_index and
// workflow transforms, and that no other transform has one.
func (t Transform) validateOwn(bad func(field, format string, args ...any)) {
	for _, b := range []struct {
		block, owner string
		set          bool
	}{
		{"service", "service_facts", t.Service != nil},
		{"reverse_index", "reverse_index", t.ReverseIndex != nil},
		{"workflow", "workflow", t.Workflow != nil},
	} {
		switch {
		case b.set && t.Name != b.owner:
			bad(b.block, "belongs to the %s transform", b.owner)
		case !b.set && t.Name == b.owner:
			bad(b.block, "missing: the %s transform needs it", b.owner)
		}
	}
	switch {
	case t.Service != nil:
		t.Service.validate(bad)
	case t.ReverseIndex != nil:
		r := t.ReverseIndex
		if !identifier.MatchString(r.TableName()) {
			bad("reverse_index", "table %q (field %q): want lower-case letters, digits and '_', starting with a letter, at most 48", r.TableName(), r.Field)
		}
		if r.Field == "" {
			bad("reverse_index.field", "name the metadata key to index")
		}
	case t.Workflow != nil:
		w := t.Workflow
		if w.Name == "" {
			bad("workflow.name", "name the workflow")
		}
		if (w.Topic == "") == (w.URL == "") {
			bad("workflow", "give topic (Kafka) or url (HTTP), one of them")
		}
		if w.URL != "" {
			badURL("workflow.url", w.URL, bad)
		}
	}
}

// WithDefaults fills in what the spec left zero.
func (s Service) WithDefaults() Service {
	s.Batch = cmp.Or(s.Batch, DefaultServiceBatch)
	s.Concurrency = cmp.Or(s.Concurrency, DefaultServiceConcurrency)
	s.Timeout = cmp.Or(s.Timeout, DefaultServiceTimeout)
	s.Tries = cmp.Or(s.Tries, DefaultServiceTries)
	return s
}

func (s *Service) validate(bad func(field, format string, args ...any)) {
	badURL("service.url", s.URL, bad)
	if len(s.Fields) == 0 {
		bad("service.fields", "list the metadata keys to send")
	}
	if s.Batch < 0 || s.Batch > 10000 {
		bad("service.batch", "want 1 to 10000 (0: %d), got %d", DefaultServiceBatch, s.Batch)
	}
	if s.Rate < 0 {
		bad("service.rate", "want requests per second >= 0 (0: no limit), got %g", s.Rate)
	}
	if s.Concurrency < 0 || s.Concurrency > 256 {
		bad("service.concurrency", "want 1 to 256 (0: %d), got %d", DefaultServiceConcurrency, s.Concurrency)
	}
	if s.Timeout < 0 {
		bad("service.timeout", "want > 0 (0: %s), got %s", DefaultServiceTimeout, s.Timeout)
	}
	if s.Tries < 0 {
		bad("service.tries", "want >= 1 (0: %d), got %d", DefaultServiceTries, s.Tries)
	}
}

func badURL(field, raw string, bad func(field, format string, args ...any)) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad(field, "%q: want an http or https URL", raw)
	}
}
