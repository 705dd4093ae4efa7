// Package synth makes synthetic assets that look like a media library's, and
// writes them into a Store in parallel: the data the demo, the benchmarks
// and a fresh install run on.
//
// The mix has one hot type (image, half of all assets) so that one (type,
// bucket) spreads over every shard, and creation times spread uniformly over
// the chosen span, so assets fill many time buckets.
package synth

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/reprocess/reprocess/assets"
)

// Config says what to generate.
type Config struct {
	Count       int           // assets to write
	Span        time.Duration // creation times fall in [End-Span, End)
	End         time.Time     // zero means now
	Seed        uint64        // same seed, same assets (ids aside)
	Concurrency int           // parallel writers
}

// Validate reports bad settings.
func (c Config) Validate() error {
	var errs []error
	if c.Count < 0 {
		errs = append(errs, fmt.Errorf("count: want >= 0, got %d", c.Count))
	}
	if c.Span <= 0 {
		errs = append(errs, fmt.Errorf("span: want a positive duration, got %s", c.Span))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency: want >= 1, got %d", c.Concurrency))
	}
	return errors.Join(errs...)
}

// Types are the generated asset types with their share of all assets.
var Types = []struct {
	Name   string
	Weight int
}{
	{"image", 50}, // the hot type
	{"video", 20},
	{"document", 15},
	{"audio", 10},
	{"model3d", 5},
}

// TypeNames lists the generated types.
func TypeNames() []string {
	names := make([]string, len(Types))
	for i, t := range Types {
		names[i] = t.Name
	}
	return names
}

// Generator makes assets; it is not safe for concurrent use.
type Generator struct {
	rng      *rand.Rand
	from     time.Time
	span     time.Duration
	totalW   int
	sequence int
}

// NewGenerator returns a generator for cfg.
func NewGenerator(cfg Config) *Generator {
	end := cfg.End
	if end.IsZero() {
		end = time.Now()
	}
	g := &Generator{rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), from: end.Add(-cfg.Span), span: cfg.Span}
	for _, t := range Types {
		g.totalW += t.Weight
	}
	return g
}

func (g *Generator) pick(options ...string) string { return options[g.rng.IntN(len(options))] }

func (g *Generator) num(lo, hi int) string { return strconv.Itoa(lo + g.rng.IntN(hi-lo+1)) }

// Next returns one new asset.
func (g *Generator) Next() assets.Asset {
	g.sequence++
	created := g.from.Add(time.Duration(g.rng.Int64N(int64(g.span)))).UTC().Truncate(time.Millisecond)
	typ := Types[len(Types)-1].Name
	for w, i := g.rng.IntN(g.totalW), 0; i < len(Types); i++ {
		if w < Types[i].Weight {
			typ = Types[i].Name
			break
		}
		w -= Types[i].Weight
	}
	m := map[string]string{
		"owner": g.pick("studio-north", "studio-south", "marketing", "archive", "partner-42"),
		"title": fmt.Sprintf("%s %s %d", g.pick("Sunset", "Harbor", "Launch", "Interview", "Forest", "Skyline"), typ, g.sequence),
		"bytes": g.num(10_000, 4_000_000_000),
	}
	switch typ {
	case "image":
		w, h := g.resolution()
		m["width"], m["height"] = w, h
		m["format"] = g.pick("jpeg", "png", "webp", "heic")
		m["camera"] = g.pick("Canon EOS R5", "Nikon Z8", "iPhone 16 Pro", "Sony A7 IV")
	case "video":
		w, h := g.resolution()
		m["width"], m["height"] = w, h
		m["duration_s"] = g.num(5, 7200)
		m["codec"] = g.pick("h264", "hevc", "av1", "prores")
		m["fps"] = g.pick("24", "25", "30", "60")
	case "document":
		m["pages"] = g.num(1, 900)
		m["mime"] = g.pick("application/pdf", "text/markdown", "application/vnd.ms-excel")
		m["language"] = g.pick("en", "de", "fr", "ja", "es")
	case "audio":
		m["duration_s"] = g.num(1, 5400)
		m["codec"] = g.pick("aac", "flac", "opus", "mp3")
		m["sample_rate"] = g.pick("44100", "48000", "96000")
		m["channels"] = g.pick("1", "2", "6")
	case "model3d":
		m["polygons"] = g.num(500, 5_000_000)
		m["format"] = g.pick("glb", "usdz", "fbx")
		m["textures"] = g.num(0, 64)
	}
	return assets.Asset{ID: assets.NewID(created), Type: typ, CreatedAt: created, Metadata: m}
}

func (g *Generator) resolution() (string, string) {
	r := [][2]string{{"1280", "720"}, {"1920", "1080"}, {"2560", "1440"}, {"3840", "2160"}, {"7680", "4320"}}[g.rng.IntN(5)]
	return r[0], r[1]
}

// Seed writes cfg.Count generated assets into s with cfg.Concurrency
// writers, calling progress (if not nil, one call at a time) after each
// write with the running total. A store that is an assets.AllPutter is written seedChunk assets a
// request per writer. It returns the number written, which is cfg.Count
// unless it failed.
func Seed(ctx context.Context, s assets.Store, cfg Config, progress func(done int64)) (int64, error) {
	if err := cfg.Validate(); err != nil {
		return 0, err
	}
	return SeedFrom(ctx, s, cfg.Count, cfg.Concurrency, NewGenerator(cfg).Next, progress)
}

// seedChunk is how many assets a writer hands an assets.AllPutter at once.
const seedChunk = 100

// SeedFrom writes count assets made by next (called from one goroutine)
// with concurrency writers; see Seed.
func SeedFrom(ctx context.Context, s assets.Store, count, concurrency int, next func() assets.Asset, progress func(done int64)) (int64, error) {
	work := make(chan assets.Asset, concurrency*4)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(work)
		for range count {
			select {
			case work <- next():
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	var done atomic.Int64
	var progressMu sync.Mutex // progress need not be safe for concurrent use
	put := func(ctx context.Context, as []assets.Asset) error {
		if ap, ok := s.(assets.AllPutter); ok && len(as) > 1 {
			return ap.PutAll(ctx, as)
		}
		for _, a := range as {
			if err := s.Put(ctx, a); err != nil {
				return err
			}
		}
		return nil
	}
	for range concurrency {
		g.Go(func() error {
			var chunk []assets.Asset
			flush := func() error {
				if err := put(ctx, chunk); err != nil {
					return fmt.Errorf("seed: %w", err)
				}
				n := done.Add(int64(len(chunk)))
				if progress != nil {
					progressMu.Lock()
					progress(n)
					progressMu.Unlock()
				}
				chunk = chunk[:0]
				return nil
			}
			for a := range work {
				if chunk = append(chunk, a); len(chunk) == seedChunk {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			if len(chunk) == 0 {
				return nil
			}
			return flush()
		})
	}
	err := g.Wait()
	return done.Load(), err
}
