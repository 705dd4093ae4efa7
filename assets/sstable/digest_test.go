package sstable_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reprocess/reprocess/assets/sstable"
)

func TestVerifyDigest(t *testing.T) {
	cases := []struct {
		name    string
		damage  func(t *testing.T, data string) // nil: intact
		ok      bool
		wantErr string // "" for no error; else a substring, %s the Data.db path
	}{
		{name: "intact", ok: true},
		{name: "flipped byte", damage: func(t *testing.T, data string) {
			b, err := os.ReadFile(data)
			must(t, err)
			b[len(b)/2] ^= 0x01
			must(t, os.WriteFile(data, b, 0o644))
		}, wantErr: "%s: CRC32 %d, Digest.crc32 says %d"},
		{name: "no digest", damage: func(t *testing.T, data string) {
			must(t, os.Remove(strings.TrimSuffix(data, "Data.db")+"Digest.crc32"))
		}},
		{name: "digest not a number", damage: func(t *testing.T, data string) {
			must(t, os.WriteFile(strings.TrimSuffix(data, "Data.db")+"Digest.crc32", []byte("abc\n"), 0o644))
		}, wantErr: "Digest.crc32: \"abc\\n\" is not a decimal CRC32"},
	}
	for _, name := range []string{"nb/legacy_nb_clust", "da/legacy_da_simple", "me/legacy_me_simple"} {
		f := loadFixture(t, name)
		for _, c := range cases {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				data := copyFixture(t, f)
				digest, err := os.ReadFile(strings.TrimSuffix(data, "Data.db") + "Digest.crc32")
				must(t, err)
				if c.damage != nil {
					c.damage(t, data)
				}
				ok, err := open(t, data).VerifyDigest(context.Background())
				if c.wantErr == "" {
					if err != nil || ok != c.ok {
						t.Fatalf("got %v, %v; want %v, no error", ok, err, c.ok)
					}
					return
				}
				b, _ := os.ReadFile(data)
				want := c.wantErr
				if strings.Contains(want, "%d") {
					want = fmt.Sprintf(want, data, crc32.ChecksumIEEE(b), mustAtoi(t, digest))
				}
				if ok || !errors.Is(err, sstable.ErrCorrupt) || !strings.Contains(fmt.Sprint(err), want) {
					t.Errorf("got %v, %v; want ErrCorrupt with %q", ok, err, want)
				}
			})
		}
	}
}

func mustAtoi(t *testing.T, b []byte) uint32 {
	t.Helper()
	var n uint32
	if _, err := fmt.Sscan(string(b), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSnapshotVerify checks a snapshot of three SSTables: one intact, one
// damaged, one without a digest.
func TestSnapshotVerify(t *testing.T) {
	dir := t.TempDir()
	var datas []string
	for i, name := range []string{"nb/legacy_nb_clust", "nb/legacy_nb_simple", "nb/legacy_nb_clust_counter"} {
		src := filepath.Dir(copyFixture(t, loadFixture(t, name)))
		files, _ := filepath.Glob(filepath.Join(src, "*"))
		for _, p := range files {
			to := filepath.Join(dir, strings.Replace(filepath.Base(p), "nb-1-", fmt.Sprintf("nb-%d-", i+1), 1))
			must(t, os.Rename(p, to))
		}
		datas = append(datas, filepath.Join(dir, fmt.Sprintf("nb-%d-big-Data.db", i+1)))
	}
	b, err := os.ReadFile(datas[1])
	must(t, err)
	b[len(b)-5] ^= 0x80
	must(t, os.WriteFile(datas[1], b, 0o644))
	must(t, os.Remove(strings.TrimSuffix(datas[2], "Data.db")+"Digest.crc32"))

	s, err := sstable.OpenSnapshot(dir)
	must(t, err)
	for _, allowMissing := range []bool{false, true} {
		var out bytes.Buffer
		err = s.Verify(context.Background(), &out, allowMissing)
		if !errors.Is(err, sstable.ErrCorrupt) || !strings.Contains(fmt.Sprint(err), datas[1]) || strings.Contains(fmt.Sprint(err), datas[0]) {
			t.Errorf("allow missing %v: got %v; want ErrCorrupt naming %s, not %s", allowMissing, err, datas[1], datas[0])
		}
		if missing := errors.Is(err, sstable.ErrNoDigest) && strings.Contains(fmt.Sprint(err), datas[2]); missing == allowMissing {
			t.Errorf("allow missing %v: got %v; want ErrNoDigest naming %s only when not allowed", allowMissing, err, datas[2])
		}
		for _, want := range []string{datas[0] + ": digest ok", datas[1] + ": DAMAGED", datas[2] + ": not verified: no Digest.crc32"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
	}
}
