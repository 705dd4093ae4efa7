package sstable

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Schema is a table's definition as a snapshot's schema.cql gives it: the
// names the SSTables themselves lack (partition key and clustering
// columns), the column order of SELECT *, and the columns dropped since.
type Schema struct {
	Keyspace, Table string
	PartitionKey    []string
	Clustering      []string
	Columns         []SchemaColumn   // the current ones, in CREATE TABLE order
	Dropped         map[string]int64 // column → its last drop timestamp (µs), re-added or not
	DefaultTTL      int
}

// SchemaColumn is one column of CREATE TABLE.
type SchemaColumn struct {
	Name, Type string // Type as CQL writes it: text, map<text, int>, frozen<addr>
	Static     bool
}

var (
	createTable = regexp.MustCompile(`(?is)CREATE TABLE (?:IF NOT EXISTS )?([^\s(]+)\s*\((.*?)\)\s*(?:WITH\s(.*?))?;`)
	alterColumn = regexp.MustCompile(`(?i)ALTER TABLE \S+ (?:DROP (.+?) USING TIMESTAMP (\d+)|ADD (.+?))\s*;`)
	defaultTTL  = regexp.MustCompile(`(?i)default_time_to_live = (\d+)`)
)

// ParseSchema reads schema.cql as Cassandra writes it into a snapshot:
// CREATE TYPE statements, one CREATE TABLE, then ALTER TABLE … DROP for
// dropped columns and CREATE INDEX statements.
func ParseSchema(cql string) (*Schema, error) {
	m := createTable.FindStringSubmatch(cql)
	if m == nil {
		return nil, fmt.Errorf("schema.cql: no CREATE TABLE statement")
	}
	s := &Schema{Dropped: map[string]int64{}}
	name := splitTop(m[1], '.')
	if len(name) != 2 {
		return nil, fmt.Errorf("schema.cql: table name %q is not keyspace.table", m[1])
	}
	var err error
	if s.Keyspace, err = ident(name[0]); err != nil {
		return nil, err
	}
	if s.Table, err = ident(name[1]); err != nil {
		return nil, err
	}
	for _, def := range splitTop(m[2], ',') {
		def = strings.TrimSpace(def)
		if def == "" {
			continue
		}
		if rest, ok := cutPrefixFold(def, "PRIMARY KEY"); ok {
			if err := s.primaryKey(rest); err != nil {
				return nil, err
			}
			continue
		}
		col, err := parseColumnDef(def)
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(strings.ToUpper(col.Type), " PRIMARY KEY") {
			col.Type = strings.TrimSpace(col.Type[:len(col.Type)-len(" PRIMARY KEY")])
			s.PartitionKey = []string{col.Name}
		}
		s.Columns = append(s.Columns, col)
	}
	if len(s.PartitionKey) == 0 {
		return nil, fmt.Errorf("schema.cql: table %s.%s has no primary key", s.Keyspace, s.Table)
	}
	if t := defaultTTL.FindStringSubmatch(m[3]); t != nil {
		s.DefaultTTL, _ = strconv.Atoi(t[1])
	}
	if err := s.alterColumns(cql); err != nil {
		return nil, err
	}
	return s, nil
}

// alterColumns applies the ALTER TABLE statements that follow CREATE
// TABLE, in order: Cassandra lists a dropped column in CREATE TABLE, then
// drops it USING TIMESTAMP, then ADDs it again if it was re-added. Cells
// of the column at or before the drop stay dropped either way.
func (s *Schema) alterColumns(cql string) error {
	for _, a := range alterColumn.FindAllStringSubmatch(cql, -1) {
		if a[3] != "" {
			for _, def := range splitTop(strings.Trim(a[3], "() "), ',') {
				col, err := parseColumnDef(strings.TrimSpace(def))
				if err != nil {
					return err
				}
				s.Columns = slices.DeleteFunc(s.Columns, func(c SchemaColumn) bool { return c.Name == col.Name })
				s.Columns = append(s.Columns, col)
			}
			continue
		}
		ts, err := strconv.ParseInt(a[2], 10, 64)
		if err != nil {
			return fmt.Errorf("schema.cql: drop timestamp %q: %w", a[2], err)
		}
		for _, c := range splitTop(strings.Trim(a[1], "() "), ',') {
			c, err := ident(strings.TrimSpace(c))
			if err != nil {
				return err
			}
			s.Dropped[c] = max(s.Dropped[c], ts)
			s.Columns = slices.DeleteFunc(s.Columns, func(col SchemaColumn) bool { return col.Name == c })
		}
	}
	return nil
}

// primaryKey reads "((a, b), c, d)" or "(a, c)".
func (s *Schema) primaryKey(def string) error {
	def = strings.TrimSpace(def)
	if !strings.HasPrefix(def, "(") || !strings.HasSuffix(def, ")") {
		return fmt.Errorf("schema.cql: PRIMARY KEY %q", def)
	}
	parts := splitTop(def[1:len(def)-1], ',')
	first := strings.TrimSpace(parts[0])
	if strings.HasPrefix(first, "(") {
		for _, k := range splitTop(strings.Trim(first, "()"), ',') {
			k, err := ident(strings.TrimSpace(k))
			if err != nil {
				return err
			}
			s.PartitionKey = append(s.PartitionKey, k)
		}
	} else {
		k, err := ident(first)
		if err != nil {
			return err
		}
		s.PartitionKey = []string{k}
	}
	for _, c := range parts[1:] {
		c, err := ident(strings.TrimSpace(c))
		if err != nil {
			return err
		}
		s.Clustering = append(s.Clustering, c)
	}
	return nil
}

func parseColumnDef(def string) (SchemaColumn, error) {
	var name, rest string
	if strings.HasPrefix(def, `"`) {
		end := strings.Index(def[1:], `"`)
		for end >= 0 && strings.HasPrefix(def[end+2:], `"`) { // "" escapes a quote
			next := strings.Index(def[end+3:], `"`)
			if next < 0 {
				end = -1
				break
			}
			end += 2 + next
		}
		if end < 0 {
			return SchemaColumn{}, fmt.Errorf("schema.cql: unterminated quoted name in %q", def)
		}
		name, rest = unquote(def[:end+2]), def[end+2:]
	} else {
		var ok bool
		name, rest, ok = strings.Cut(def, " ")
		if !ok {
			return SchemaColumn{}, fmt.Errorf("schema.cql: column %q has no type", def)
		}
		if _, err := ident(name); err != nil {
			return SchemaColumn{}, err
		}
	}
	col := SchemaColumn{Name: name, Type: strings.TrimSpace(rest)}
	if t, ok := strings.CutSuffix(col.Type, " static"); ok {
		col.Type, col.Static = t, true
	}
	if col.Type == "" {
		return SchemaColumn{}, fmt.Errorf("schema.cql: column %q has no type", name)
	}
	return col, nil
}

// splitTop splits s at sep outside of (), <> and quotes.
func splitTop(s string, sep byte) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(' || c == '<':
			depth++
		case c == ')' || c == '>':
			depth--
		case c == sep && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// plainName is what an unquoted CQL identifier may be.
var plainName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// ident is the name a CQL identifier stands for: "Zip" → Zip, abc → abc;
// anything else is an error.
func ident(id string) (string, error) {
	if strings.HasPrefix(id, `"`) || plainName.MatchString(id) {
		return unquote(id), nil
	}
	return "", fmt.Errorf("schema.cql: %q is not a CQL name", id)
}

// unquote turns a CQL identifier into its name: "Zip" → Zip, abc → abc.
func unquote(id string) string {
	if len(id) >= 2 && id[0] == '"' && id[len(id)-1] == '"' {
		return strings.ReplaceAll(id[1:len(id)-1], `""`, `"`)
	}
	return id
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// check checks the schema against an SSTable's serialization header
// (Statistics.db): as many partition key and clustering columns, and each
// column of the SSTable a column of the table of the same type, static
// or not as in the table, or one dropped since. A nil schema checks
// nothing.
func (s *Schema) check(t *Table) error {
	if s == nil {
		return nil
	}
	var bad []string
	keys := 1
	if t.Header.PartitionKey.Name == "CompositeType" {
		keys = len(t.Header.PartitionKey.Params)
	}
	if keys != len(s.PartitionKey) || len(t.Header.Clustering) != len(s.Clustering) {
		bad = append(bad, fmt.Sprintf("%d partition key and %d clustering columns, schema.cql has %v and %v",
			keys, len(t.Header.Clustering), s.PartitionKey, s.Clustering))
	}
	cols := map[string]SchemaColumn{}
	for _, c := range s.Columns {
		cols[c.Name] = c
	}
	keyTypes := append([]*Type{t.Header.PartitionKey}, t.Header.Clustering...)
	if t.Header.PartitionKey.Name == "CompositeType" {
		keyTypes = append(slices.Clone(t.Header.PartitionKey.Params), t.Header.Clustering...)
	}
	for i, k := range append(slices.Clone(s.PartitionKey), s.Clustering...) {
		if sc, ok := cols[k]; ok && i < len(keyTypes) && keyType(sc.Type) != keyType(keyTypes[i].CQL()) {
			bad = append(bad, fmt.Sprintf("key column %s is %s, the table's is %s", k, keyTypes[i].CQL(), sc.Type))
		}
	}
	for _, c := range append(slices.Clone(t.Header.StaticColumns), t.Header.RegularColumns...) {
		static := slices.Contains(t.Header.StaticColumns, c)
		sc, ok := cols[c.Name]
		_, dropped := s.Dropped[c.Name]
		switch {
		case !ok && dropped:
		case !ok:
			bad = append(bad, fmt.Sprintf("column %s (%s) is not in the table", c.Name, c.Type.CQL()))
		case slices.Contains(s.PartitionKey, c.Name) || slices.Contains(s.Clustering, c.Name):
			bad = append(bad, fmt.Sprintf("column %s is a key column of the table", c.Name))
		case sc.Static != static:
			bad = append(bad, fmt.Sprintf("column %s is static in one and not in the other", c.Name))
		case !dropped && normalType(sc.Type) != normalType(c.Type.CQL()):
			bad = append(bad, fmt.Sprintf("column %s is %s, the table's is %s", c.Name, c.Type.CQL(), sc.Type))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("sstable: %s does not hold table %s.%s of schema.cql: %s",
			t.component("Statistics.db"), s.Keyspace, s.Table, strings.Join(bad, "; "))
	}
	return nil
}

// keyType is a key column's CQL type as normalType has it, with frozen
// left out (a key's collections are frozen whether it says so or not).
func keyType(t string) string {
	return strings.NewReplacer("frozen<", "", ">", "").Replace(normalType(t))
}

// normalType is a CQL type without spaces, in lower case.
func normalType(t string) string {
	return strings.ToLower(strings.ReplaceAll(t, " ", ""))
}

// diff describes how o differs from s, "" when it does not.
func (s *Schema) diff(o *Schema) string {
	switch {
	case s.Keyspace != o.Keyspace || s.Table != o.Table:
		return fmt.Sprintf("table %s.%s and %s.%s", s.Keyspace, s.Table, o.Keyspace, o.Table)
	case !slices.Equal(s.PartitionKey, o.PartitionKey) || !slices.Equal(s.Clustering, o.Clustering):
		return fmt.Sprintf("primary key %v %v and %v %v", s.PartitionKey, s.Clustering, o.PartitionKey, o.Clustering)
	case !slices.Equal(s.Columns, o.Columns):
		return fmt.Sprintf("columns %s and %s", columnList(s.Columns), columnList(o.Columns))
	case !maps.Equal(s.Dropped, o.Dropped):
		return fmt.Sprintf("dropped columns %v and %v", s.Dropped, o.Dropped)
	case s.DefaultTTL != o.DefaultTTL:
		return fmt.Sprintf("default_time_to_live %d and %d", s.DefaultTTL, o.DefaultTTL)
	}
	return ""
}

func columnList(cols []SchemaColumn) string {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = c.Name + " " + c.Type
		if c.Static {
			s[i] += " static"
		}
	}
	return "(" + strings.Join(s, ", ") + ")"
}
