package sstable

// Splits cuts the data stream into byte ranges of roughly target
// uncompressed bytes that start and end on partition starts, from the
// partition index: together they cover [0, DataLength) with no gap or
// overlap, and Scan decodes each one independently. Each cut is the
// partition start nearest to target bytes past the previous one, except
// that a partition larger than target is a split of its own. A target of 0
// or less gives one split.
func (t *Table) Splits(target int64) ([]Split, error) {
	n := t.DataLength()
	if target <= 0 {
		return []Split{{0, n}}, nil
	}
	idx, err := t.Index()
	if err != nil {
		return nil, err
	}
	starts := make([]int64, len(idx))
	for i, e := range idx {
		starts[i] = e.Offset
	}
	return splitStarts(starts, n, target), nil
}

// splitStarts cuts [0, n) at some of the partition starts (increasing,
// the first 0).
func splitStarts(starts []int64, n, target int64) []Split {
	var out []Split
	from := int64(0)
	for i := 1; i < len(starts); i++ {
		// The split holds the partitions from from to i-1; cut before
		// partition i if the split is full, if i is big (it then becomes
		// a split of its own), or if i crosses the goal and its start is
		// nearer to it than its end.
		s, e := starts[i], n
		if i+1 < len(starts) {
			e = starts[i+1]
		}
		goal := from + target
		if s >= goal || e-s > target || (e > goal && goal-s < e-goal) {
			out = append(out, Split{from, s})
			from = s
		}
	}
	return append(out, Split{from, n})
}
