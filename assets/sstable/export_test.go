package sstable

// DecodeRows reads every row and marker of t through a merge's cursor,
// for the benchmarks.
func DecodeRows(t *Table) error {
	p, err := ParsePartitioner(t.Partitioner)
	if err != nil {
		return err
	}
	c, err := openCursor(t, p, TokenRange{}, true)
	if err != nil {
		return err
	}
	defer c.close()
	for {
		ok, err := c.nextPartition()
		if !ok || err != nil {
			return err
		}
		if err := c.skip(); err != nil {
			return err
		}
	}
}
