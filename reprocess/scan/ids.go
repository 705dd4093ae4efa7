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

// NewIDs is the ids source of a list already checked.
func NewIDs(ids []assets.ID, batchSize int) *IDs {
	return &IDs{ids: ids, batchSize: max(1, batchSize)}
}

// Size is how many ids the list holds.
func (s *IDs) Size() int64 { return int64(len(s.ids)) }

// ListError is an id list that cannot be used. Error quotes the bad lines,
// for the list's author; Redacted names them by number only, for a caller
// that must not echo the list (the HTTP API reading a file on its host).
type ListError struct{ quoted, redacted string }

func (e *ListError) Error() string { return e.quoted }

// Redacted says what was wrong with no text of the list.
func (e *ListError) Redacted() string { return e.redacted }

// badLines collects the first maxReported bad lines of a list, each
// quoted and redacted.
type badLines struct {
	n                int
	quoted, redacted []string
}

func (b *badLines) add(quoted, redacted string) {
	if b.n++; b.n <= maxReported {
		b.quoted, b.redacted = append(b.quoted, quoted), append(b.redacted, redacted)
	}
}

func (b *badLines) err() error {
	if b.n == 0 {
		return nil
	}
	head, tail := fmt.Sprintf("%d invalid asset ids:\n", b.n), ""
	if more := b.n - maxReported; more > 0 {
		tail = fmt.Sprintf("\n... and %d more bad lines", more)
	}
	return &ListError{head + strings.Join(b.quoted, "\n") + tail, head + strings.Join(b.redacted, "\n") + tail}
}

// plain is a ListError that quotes nothing of the list.
func plain(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return &ListError{msg, msg}
}

// ReadIDs reads asset ids, one per line, or from a CSV column when column
// is set (a header name, or a 1-based number for headerless files). Blank
// lines and lines starting with # are skipped. Every invalid id is reported
// with its line number, and then no id is returned: a job never starts on
// part of a list. Every error is a *ListError.
func ReadIDs(r io.Reader, column string, batchSize int) (*IDs, error) {
	var (
		ids []assets.ID
		bad badLines
	)
	add := func(line int, s string) {
		s = strings.TrimSpace(s)
		if s == "" || strings.HasPrefix(s, "#") {
			return
		}
		id, err := assets.ParseID(s)
		if err != nil {
			bad.add(fmt.Sprintf("line %d: %v", line, err), fmt.Sprintf("line %d: not a timeuuid", line))
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
			return nil, plain("read ids: %v", err)
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
				return nil, plain("read ids: line %d: %v", line, err) // a csv.ParseError quotes nothing
			}
			if header {
				col = slices.Index(rec, column)
				if col < 0 {
					return nil, &ListError{fmt.Sprintf("read ids: line %d: no column %q in header %v", line, column, rec),
						fmt.Sprintf("read ids: line %d: no column %q in the header", line, column)}
				}
				header = false
				continue
			}
			if col >= len(rec) {
				msg := fmt.Sprintf("line %d: no column %s (the line has %d)", line, column, len(rec))
				bad.add(msg, msg)
				continue
			}
			add(line, rec[col])
		}
	}
	if err := bad.err(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, plain("read ids: the list is empty")
	}
	return NewIDs(ids, batchSize), nil
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
