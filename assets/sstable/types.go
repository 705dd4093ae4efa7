package sstable

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Type is a parsed Cassandra type string, e.g.
// org.apache.cassandra.db.marshal.MapType(…UTF8Type,…Int32Type).
type Type struct {
	Name   string  // simple class name: UTF8Type, ReversedType, ...
	Params []*Type // parameters that are types; a UserType's field types
	Raw    string  // the string as written

	// UserType(keyspace,hex name,hex field:type,...) only.
	Keyspace string
	UDTName  string   // the type's name
	Fields   []string // field names, one per Params entry

	Dimension int // VectorType(type,n) only: n
}

const marshalPkg = "org.apache.cassandra.db.marshal."

// ParseType parses a type string as the serialization header stores it.
func ParseType(s string) (*Type, error) {
	t, rest, err := parseType(s)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(rest) != "" {
		return nil, fmt.Errorf("type %q: unexpected %q", s, rest)
	}
	return t, nil
}

// token returns the text of s up to the first of ",():" and the rest.
func token(s string) (string, string) {
	end := strings.IndexAny(s, ",():")
	if end < 0 {
		end = len(s)
	}
	return strings.TrimSpace(s[:end]), s[end:]
}

func parseType(s string) (*Type, string, error) {
	name, rest := token(s)
	// DynamicCompositeType aliases (b=>BytesType) name their parameters.
	if i := strings.Index(name, "=>"); i >= 0 {
		name = strings.TrimSpace(name[i+2:])
	}
	if name == "" {
		return nil, "", fmt.Errorf("type %q: empty name", s)
	}
	t := &Type{Name: strings.TrimPrefix(name, marshalPkg)}
	if !strings.HasPrefix(rest, "(") {
		t.Raw = name
		return t, rest, nil
	}
	rest = rest[1:]
	for i := 0; ; i++ {
		rest = strings.TrimLeft(rest, " ")
		if strings.HasPrefix(rest, ")") {
			rest = rest[1:]
			break
		}
		var err error
		if rest, err = t.parseParam(s, i, rest); err != nil {
			return nil, "", err
		}
		switch {
		case strings.HasPrefix(rest, ","):
			rest = rest[1:]
			if strings.HasPrefix(strings.TrimLeft(rest, " "), ")") {
				return nil, "", fmt.Errorf("type %q: empty parameter", s)
			}
		case strings.HasPrefix(rest, ")"):
		default:
			return nil, "", fmt.Errorf("type %q: unbalanced parameters", s)
		}
	}
	if t.Name == "UserType" && (t.UDTName == "" || len(t.Fields) != len(t.Params)) {
		return nil, "", fmt.Errorf("type %q: want keyspace, name and name:type fields", s)
	}
	if t.Name == "VectorType" && (len(t.Params) != 1 || t.Dimension <= 0) {
		return nil, "", fmt.Errorf("type %q: want an element type and a positive dimension", s)
	}
	t.Raw = s[:len(s)-len(rest)]
	return t, rest, nil
}

// parseParam parses the i-th parameter of t at s and returns what follows it.
func (t *Type) parseParam(full string, i int, s string) (string, error) {
	tok, after := token(s)
	switch {
	case t.Name == "UserType" && i == 0:
		t.Keyspace = tok
		return after, nil
	case t.Name == "UserType" && i == 1:
		b, err := hex.DecodeString(tok)
		if err != nil {
			return "", fmt.Errorf("type %q: name %q is not hex", full, tok)
		}
		t.UDTName = string(b)
		return after, nil
	case t.Name == "VectorType" && i == 1:
		n, err := strconv.Atoi(tok)
		if err != nil {
			return "", fmt.Errorf("type %q: dimension %q", full, tok)
		}
		t.Dimension = n
		return after, nil
	}
	// UserType fields are hexname:type; ColumnToCollectionType uses the same.
	if strings.HasPrefix(after, ":") {
		if t.Name == "UserType" {
			b, err := hex.DecodeString(tok)
			if err != nil {
				return "", fmt.Errorf("type %q: field name %q is not hex", full, tok)
			}
			t.Fields = append(t.Fields, string(b))
		}
		s = after[1:]
	}
	p, rest, err := parseType(s)
	if err != nil {
		return "", err
	}
	t.Params = append(t.Params, p)
	return rest, nil
}

// fixedLength is the byte length of the type's values when fixed, else -1,
// as Cassandra's valueLengthIfFixed: smallint, tinyint, date and time are
// variable-length although their values have a fixed size.
func (t *Type) fixedLength() int {
	switch t.Name {
	case "BooleanType":
		return 1
	case "Int32Type", "FloatType":
		return 4
	case "LongType", "DoubleType", "TimestampType", "DateType":
		return 8
	case "UUIDType", "TimeUUIDType", "LexicalUUIDType":
		return 16
	case "EmptyType":
		return 0
	case "ReversedType", "FrozenType":
		if len(t.Params) == 1 {
			return t.Params[0].fixedLength()
		}
	case "VectorType":
		if len(t.Params) == 1 && t.Dimension > 0 {
			if n := t.Params[0].fixedLength(); n >= 0 {
				return n * t.Dimension
			}
		}
	}
	return -1
}

// Complex reports whether a column of this type is multi-cell: a
// non-frozen collection or user type.
func (t *Type) Complex() bool {
	switch t.Name {
	case "ListType", "SetType", "MapType", "UserType":
		return true
	}
	return false
}

// Counter reports whether the type is a counter column.
func (t *Type) Counter() bool { return t.Name == "CounterColumnType" }
