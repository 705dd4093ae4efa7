package sstable

import (
	"fmt"
	"strings"
)

// Type is a parsed Cassandra type string, e.g.
// org.apache.cassandra.db.marshal.MapType(…UTF8Type,…Int32Type).
type Type struct {
	Name   string  // simple class name: UTF8Type, ReversedType, ...
	Params []*Type // parameters that are types
	Raw    string  // the string as written
}

const marshalPkg = "org.apache.cassandra.db.marshal."

// ParseType parses a type string as the serialization header stores it.
func ParseType(s string) (*Type, error) {
	t, rest, err := parseType(s)
	if err != nil {
		return nil, err
	}
	if rest != "" {
		return nil, fmt.Errorf("type %q: unexpected %q", s, rest)
	}
	return t, nil
}

func parseType(s string) (*Type, string, error) {
	end := strings.IndexAny(s, "(,)")
	if end < 0 {
		end = len(s)
	}
	name := strings.TrimSpace(s[:end])
	if name == "" {
		return nil, "", fmt.Errorf("type %q: empty name", s)
	}
	t := &Type{Name: strings.TrimPrefix(name, marshalPkg)}
	rest := s[end:]
	if !strings.HasPrefix(rest, "(") {
		t.Raw = name
		return t, rest, nil
	}
	rest = rest[1:]
	for {
		if strings.HasPrefix(rest, ")") {
			rest = rest[1:]
			break
		}
		// UserType parameters are keyspace, hex name, and hexname:type
		// fields; only the types matter here.
		if i := strings.IndexAny(rest, ":(,)"); i >= 0 && rest[i] == ':' {
			rest = rest[i+1:]
		}
		var p *Type
		var err error
		p, rest, err = parseType(rest)
		if err != nil {
			return nil, "", err
		}
		t.Params = append(t.Params, p)
		switch {
		case strings.HasPrefix(rest, ","):
			rest = rest[1:]
		case strings.HasPrefix(rest, ")"):
		default:
			return nil, "", fmt.Errorf("type %q: unbalanced parameters", s)
		}
	}
	t.Raw = s[:len(s)-len(rest)]
	return t, rest, nil
}

// fixedLength is the byte length of the type's values when fixed, else -1.
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
	case "ReversedType":
		if len(t.Params) == 1 {
			return t.Params[0].fixedLength()
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
