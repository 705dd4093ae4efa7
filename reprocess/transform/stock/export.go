package stock

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/lake"
	"github.com/reprocess/reprocess/assets/lake/iceberg"
	"github.com/reprocess/reprocess/reprocess/transform"
)

// Export appends assets, as lake.Row, to files under a directory. Rows go
// to a JSON-lines segment, fsynced in groups (Apply returns once its row
// is on disk); a segment rolls at the size limit. With format parquet each
// rolled segment is converted to a .parquet file and removed; with format
// iceberg it is appended to an Iceberg table in one commit named after the
// segment, then removed. Close (or the next start in the same directory)
// publishes what a crash left behind; a segment already committed is not
// appended again.
type Export struct {
	version int
	dir     string
	format  lake.Format
	prefix  string
	roll    int64
	iceberg iceberg.Options // format iceberg: where segments go

	mu      sync.Mutex
	file    *os.File
	buf     *bufio.Writer
	size    int64
	seq     int
	waiters []chan error
	timer   *time.Timer
	closed  bool
}

const segmentExt = ".jsonl.part"

func newExport(version int, dir, format, prefix string, roll int64, ice iceberg.Options) (*Export, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	e := &Export{version: version, dir: dir, format: lake.Format(format), prefix: prefix, roll: roll, iceberg: ice}
	if err := e.recover(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Export) Name() string { return "export" }
func (e *Export) Version() int { return e.version }

// Apply appends a's row and returns once it is fsynced.
func (e *Export) Apply(ctx context.Context, a assets.Asset) (transform.Result, error) {
	line, err := json.Marshal(lake.AssetRow(a, time.Now().UTC()))
	if err != nil {
		return transform.Result{}, err
	}
	done := make(chan error, 1)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return transform.Result{}, errors.New("export: closed")
	}
	if e.file == nil {
		if err := e.open(); err != nil {
			e.mu.Unlock()
			return transform.Result{}, err
		}
	}
	e.buf.Write(append(line, '\n'))
	e.size += int64(len(line) + 1)
	e.waiters = append(e.waiters, done)
	if e.timer == nil {
		// Group commit: one fsync for the rows of the next few milliseconds.
		e.timer = time.AfterFunc(10*time.Millisecond, e.flush)
	}
	e.mu.Unlock()
	select {
	case err := <-done:
		return transform.Result{}, err
	case <-ctx.Done():
		return transform.Result{}, ctx.Err()
	}
}

func (e *Export) open() error {
	e.seq++
	name := fmt.Sprintf("%s-%s-%04d%s", e.prefix, time.Now().UTC().Format("20060102T150405"), e.seq, segmentExt)
	f, err := os.OpenFile(filepath.Join(e.dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	e.file, e.buf, e.size = f, bufio.NewWriterSize(f, 1<<20), 0
	return nil
}

// flush writes and fsyncs the buffered rows, answers their waiters, and
// rolls the segment when it is full.
func (e *Export) flush() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.timer = nil
	err := e.sync()
	for _, w := range e.waiters {
		w <- err
	}
	e.waiters = nil
	if err == nil && e.size >= e.roll {
		err = e.finish()
	}
	if err != nil && e.file != nil {
		// The next rows go to a new segment; these waiters already know.
		e.file.Close()
		e.file = nil
	}
}

func (e *Export) sync() error {
	if e.file == nil {
		return nil
	}
	if err := e.buf.Flush(); err != nil {
		return fmt.Errorf("export %s: %w", e.file.Name(), err)
	}
	if err := e.file.Sync(); err != nil {
		return fmt.Errorf("export %s: %w", e.file.Name(), err)
	}
	return nil
}

// finish closes the current segment and makes it a final file.
func (e *Export) finish() error {
	if e.file == nil {
		return nil
	}
	path := e.file.Name()
	err := e.file.Close()
	e.file = nil
	if err != nil {
		return fmt.Errorf("export %s: %w", path, err)
	}
	return e.publish(path)
}

// publish turns a closed segment into its final file.
func (e *Export) publish(segment string) error {
	base := strings.TrimSuffix(segment, segmentExt)
	switch e.format {
	case lake.JSONL:
		return os.Rename(segment, base+".jsonl")
	case formatIceberg:
		return e.toIceberg(segment)
	}
	if err := toParquet(segment, base+".parquet"); err != nil {
		return err
	}
	return os.Remove(segment)
}

// recover publishes the segments an earlier process of this job left.
func (e *Export) recover() error {
	left, err := filepath.Glob(filepath.Join(e.dir, e.prefix+"-*"+segmentExt))
	if err != nil {
		return err
	}
	for _, seg := range left {
		if err := e.publish(seg); err != nil {
			return fmt.Errorf("export: recover %s: %w", seg, err)
		}
	}
	return nil
}

func toParquet(segment, out string) error {
	in, err := os.Open(segment)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w, err := lake.NewAssetWriter(f, lake.Parquet)
	if err != nil {
		f.Close()
		return err
	}
	err = readSegment(in, func(line int, r lake.Row) error {
		if err := w.Write(r); err != nil {
			return fmt.Errorf("parquet %s line %d: %w", out, line, err)
		}
		return nil
	})
	if err != nil {
		f.Close()
		return err
	}
	if err := errors.Join(w.Close(), f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("parquet %s: %w", out, err)
	}
	return os.Rename(tmp, out)
}

// readSegment calls fn with each whole row of a segment.
func readSegment(in io.Reader, fn func(line int, r lake.Row) error) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for line := 1; sc.Scan(); line++ {
		var r lake.Row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			// A torn last line of a crashed process: its row was never
			// acknowledged, so its asset will be exported again.
			continue
		}
		if err := fn(line, r); err != nil {
			return err
		}
	}
	return sc.Err()
}

// formatIceberg is the export format that appends to an Iceberg table.
const formatIceberg lake.Format = "iceberg"

// toIceberg appends a segment's rows to the Iceberg table in one commit
// named after the segment (skipped when the table has it already), then
// removes the segment.
func (e *Export) toIceberg(segment string) error {
	in, err := os.Open(segment)
	if err != nil {
		return err
	}
	var rows []lake.Row
	err = readSegment(in, func(_ int, r lake.Row) error { rows = append(rows, r); return nil })
	in.Close()
	if err != nil {
		return fmt.Errorf("export %s: %w", segment, err)
	}
	source := strings.TrimSuffix(filepath.Base(segment), segmentExt)
	if _, err := iceberg.AppendAssets(context.Background(), e.iceberg, source, rows); err != nil {
		return fmt.Errorf("export %s: %w", segment, err)
	}
	return os.Remove(segment)
}

// Close flushes, and publishes the open segment.
func (e *Export) Close() error {
	e.mu.Lock()
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	e.closed = true
	err := e.sync()
	for _, w := range e.waiters {
		w <- err
	}
	e.waiters = nil
	if err == nil {
		err = e.finish()
	}
	e.mu.Unlock()
	return err
}
