package scan

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/reprocess/reprocess/assets"
)

// IDs is the ids source: an explicit list, one task, walked in list order
// in batches; the position is how many ids were handed out.
type IDs struct {
	ids       []assets.ID
	batchSize int
}

var _ Source = (*IDs)(nil)

// maxReported bounds how many bad lines one error lists.
const maxReported = 20

// ReadIDs reads asset ids, one per line, or from a CSV column when column
// is set (a header name, or a 1-based number for headerless files). Blank
// lines and lines starting with # are skipped. Every invalid id is reported
// with its line number, and then no id is returned: a job never starts on
// part of a list.
func ReadIDs(r io.Reader, column string, batchSize int) (*IDs, error) {
	var (
		ids  []assets.ID
		errs []error
		bad  int
	)
	add := func(line int, s string) {
		s = strings.TrimSpace(s)
		if s == "" || strings.HasPrefix(s, "#") {
			return
		}
		id, err := assets.ParseID(s)
		if err != nil {
			bad++
			if bad <= maxReported {
				errs = append(errs, fmt.Errorf("line %d: %w", line, err))
			}
			return
		}
		ids = append(ids, id)
	}
	if column == "" {
		sc := bufio.NewScanner(r)
		for line := 1; sc.Scan(); line++ {
			add(line, sc.Text())
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read ids: %w", err)
		}
	} else {
		cr := csv.NewReader(r)
		cr.FieldsPerRecord = -1
		col, header := -1, false
		if n, err := strconv.Atoi(column); err == nil && n >= 1 {
			col = n - 1
		} else {
			header = true
		}
		for {
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			line, _ := cr.FieldPos(0)
			if err != nil {
				return nil, fmt.Errorf("read ids: line %d: %w", line, err)
			}
			if header {
				col = slices.Index(rec, column)
				if col < 0 {
					return nil, fmt.Errorf("read ids: line %d: no column %q in header %v", line, column, rec)
				}
				header = false
				continue
			}
			if col >= len(rec) {
				bad++
				if bad <= maxReported {
					errs = append(errs, fmt.Errorf("line %d: no column %s (the line has %d)", line, column, len(rec)))
				}
				continue
			}
			add(line, rec[col])
		}
	}
	if bad > maxReported {
		errs = append(errs, fmt.Errorf("... and %d more bad lines", bad-maxReported))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%d invalid asset ids:\n%w", bad, err)
	}
	if len(ids) == 0 {
		return nil, errors.New("read ids: the list is empty")
	}
	return &IDs{ids: ids, batchSize: max(1, batchSize)}, nil
}

// Len is the number of ids.
func (s *IDs) Len() int { return len(s.ids) }

// Tasks is the one task "ids".
func (s *IDs) Tasks(context.Context) ([]string, error) { return []string{"ids"}, nil }

// Walk hands out the ids after position from (a count).
func (s *IDs) Walk(ctx context.Context, task, from string, fn func(Batch) error) error {
	start := 0
	if from != "" {
		n, err := strconv.Atoi(from)
		if err != nil || n < 0 || n > len(s.ids) {
			return fmt.Errorf("checkpoint %q of the id list: want a count from 0 to %d", from, len(s.ids))
		}
		start = n
	}
	for i := start; i < len(s.ids); i += s.batchSize {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := min(i+s.batchSize, len(s.ids))
		items := make([]Item, 0, end-i)
		for _, id := range s.ids[i:end] {
			items = append(items, Item{ID: id})
		}
		if err := fn(Batch{Items: items, Position: strconv.Itoa(end)}); err != nil {
			return err
		}
	}
	return nil
}
