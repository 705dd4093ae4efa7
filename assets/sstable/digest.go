package sstable

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
	"strings"
)

// ErrNoDigest is a table without Digest.crc32: its Data.db cannot be
// verified whole.
var ErrNoDigest = errors.New("no Digest.crc32")

// VerifyDigest reads Data.db whole, as stored, and compares its CRC32
// with Digest.crc32. It reports false, with no error, when the table has
// no Digest.crc32: the file is then not verified. A mismatch is ErrCorrupt
// naming Data.db and both checksums.
func (t *Table) VerifyDigest(ctx context.Context) (bool, error) {
	raw, err := os.ReadFile(t.component("Digest.crc32"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sstable: %w", err)
	}
	want, err := strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 32)
	if err != nil {
		return false, fmt.Errorf("%w: %s: %q is not a decimal CRC32", ErrCorrupt, t.component("Digest.crc32"), raw)
	}
	path := t.component("Data.db")
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("sstable: %w", err)
	}
	defer f.Close()
	h := crc32.NewIEEE()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, fmt.Errorf("sstable: %s: %w", path, err)
		}
	}
	if got := h.Sum32(); got != uint32(want) {
		return false, fmt.Errorf("%w: %s: CRC32 %d, Digest.crc32 says %d", ErrCorrupt, path, got, want)
	}
	return true, nil
}

// Verify checks every SSTable's Data.db against its Digest.crc32, writing
// one line per SSTable to out: ok, DAMAGED, or not verified when it has no
// digest. The error joins every mismatch and, unless allowMissing, an
// ErrNoDigest for each table without a digest.
func (s *Snapshot) Verify(ctx context.Context, out io.Writer, allowMissing bool) error {
	var errs []error
	for _, t := range s.Tables {
		ok, err := t.VerifyDigest(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			errs = append(errs, err)
			fmt.Fprintf(out, "%s: DAMAGED: %v\n", t.component("Data.db"), err)
		case ok:
			fmt.Fprintf(out, "%s: digest ok\n", t.component("Data.db"))
		default:
			fmt.Fprintf(out, "%s: not verified: no Digest.crc32\n", t.component("Data.db"))
			if !allowMissing {
				errs = append(errs, fmt.Errorf("sstable: %s: not verified: %w", t.component("Data.db"), ErrNoDigest))
			}
		}
	}
	return errors.Join(errs...)
}
