package iceberg

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	ice "github.com/apache/iceberg-go"
)

// partitionField is one term of a partition spec: transform(column) or
// transform(n, column).
var partitionField = regexp.MustCompile(`^\s*([a-z]+)\s*\(\s*(?:(\d+)\s*,\s*)?([^\s(),]+)\s*\)\s*$`)

// ParsePartitionSpec parses a partition spec such as
// "day(created_at), bucket(16, asset_id)" against the schema: comma-
// separated terms identity(col), year(col), month(col), day(col),
// hour(col), bucket(n, col), truncate(width, col) or void(col). "" is the
// unpartitioned spec. Each partition field is named col_transform.
func ParsePartitionSpec(spec string, sc *ice.Schema) (*ice.PartitionSpec, error) {
	if strings.TrimSpace(spec) == "" {
		return ice.UnpartitionedSpec, nil
	}
	terms := strings.Split(spec, "),")
	var opts []ice.PartitionOption
	for i, term := range terms {
		if i < len(terms)-1 {
			term += ")"
		}
		opt, err := partitionOption(term, sc, ice.PartitionDataIDStart+i)
		if err != nil {
			return nil, fmt.Errorf("partition spec %q: %w", spec, err)
		}
		opts = append(opts, opt)
	}
	ps, err := ice.NewPartitionSpecOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("partition spec %q: %w", spec, err)
	}
	return &ps, nil
}

// partitionOption parses one term.
func partitionOption(term string, sc *ice.Schema, id int) (ice.PartitionOption, error) {
	m := partitionField.FindStringSubmatch(term)
	if m == nil {
		return nil, fmt.Errorf("%q: want transform(column) or bucket(n, column) / truncate(width, column)", strings.TrimSpace(term))
	}
	name, arg, col := m[1], m[2], m[3]
	var t ice.Transform
	switch name {
	case "bucket", "truncate":
		n, err := strconv.Atoi(arg)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s(%s): want a positive %s, as in %s(16, %s)", name, col, map[string]string{"bucket": "bucket count", "truncate": "width"}[name], name, col)
		}
		if name == "bucket" {
			t = ice.BucketTransform{NumBuckets: n}
		} else {
			t = ice.TruncateTransform{Width: n}
		}
	case "identity", "year", "month", "day", "hour", "void":
		if arg != "" {
			return nil, fmt.Errorf("%s(%s, %s): %s takes only a column", name, arg, col, name)
		}
		t, _ = ice.ParseTransform(name)
	default:
		return nil, fmt.Errorf("%q: unknown transform %s (want identity, year, month, day, hour, bucket, truncate or void)", strings.TrimSpace(term), name)
	}
	f, ok := sc.FindFieldByName(col)
	if !ok {
		return nil, fmt.Errorf("%s(%s): the table has no column %s", name, col, col)
	}
	if !t.CanTransform(f.Type) {
		return nil, fmt.Errorf("%s(%s): column %s is %s, which %s cannot partition", name, col, col, f.Type, name)
	}
	return ice.AddPartitionFieldBySourceID(f.ID, col+"_"+name, t, sc, &id), nil
}
