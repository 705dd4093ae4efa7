package plan

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/scan"
)

// scope fills p.Scope from the job's source and returns up to n of its
// items drawn at random.
func (e *Env) scope(ctx context.Context, j *job.Job, src scan.Source, o Options, rng *rand.Rand, p *Plan) ([]scan.Item, error) {
	n := o.Measure
	switch s := src.(type) {
	case *scan.Partitions:
		p.Scope.Units, p.Scope.Method = "partitions", "walk of the store's paging index, as the scan pages it"
		return walkSome(ctx, s, j.Source.Concurrency, o.Walk, n, rng, &p.Scope)
	case *scan.IDs:
		p.Scope.Units, p.Scope.Method = "lists", "the id list's ids"
		return walkAll(ctx, s, nil, 1, n, rng, &p.Scope)
	case *scan.Elastic:
		return elasticScope(ctx, s, n, rng, p)
	case *scan.Backup:
		return backupScope(ctx, s, n, rng, p)
	}
	return nil, fmt.Errorf("plan: no plan for a source of kind %s", j.Source.Kind)
}

// reservoir keeps a uniform random sample of n of the items it is given.
type reservoir struct {
	n     int
	rng   *rand.Rand
	seen  int64
	items []scan.Item
}

func (r *reservoir) add(it scan.Item) {
	r.seen++
	if len(r.items) < r.n {
		r.items = append(r.items, it)
		return
	}
	if k := r.rng.Int64N(r.seen); k < int64(r.n) {
		r.items[k] = it
	}
}

// walkSome walks k of the partitions taken at random (every one when k
// is 0 or covers them) and extrapolates the counts per type by the
// partitions of each type: an estimate, unless every one was walked.
func walkSome(ctx context.Context, s *scan.Partitions, concurrency, k, n int, rng *rand.Rand, sc *Scope) ([]scan.Item, error) {
	tasks, err := s.Tasks(ctx)
	if err != nil || k <= 0 || k >= len(tasks) {
		return walkAll(ctx, s, tasks, concurrency, n, rng, sc)
	}
	chosen := make([]string, k)
	for i, x := range rng.Perm(len(tasks))[:k] {
		chosen[i] = tasks[x]
	}
	items, err := walkAll(ctx, s, chosen, concurrency, n, rng, sc)
	if err != nil {
		return nil, err
	}
	all, walked := partitionsByType(tasks), partitionsByType(chosen)
	sc.Tasks, sc.Holding, sc.Buckets, sc.Exact, sc.TypesExact, sc.Assets = len(tasks), 0, nil, false, false, 0
	sc.Method = fmt.Sprintf("walk of %d of the %d partitions taken at random, extrapolated per type", k, len(tasks))
	for t, c := range sc.Types {
		sc.Types[t] = int64(math.Round(float64(c) * float64(all[t]) / float64(walked[t])))
		sc.Assets += sc.Types[t]
	}
	return items, nil
}

// partitionsByType counts partition task keys by asset type.
func partitionsByType(tasks []string) map[string]int {
	n := map[string]int{}
	for _, t := range tasks {
		if p, err := assets.ParsePartition(t); err == nil {
			n[p.Type]++
		}
	}
	return n
}

// walkAll walks tasks of src (nil: every one) as the scan would,
// concurrency at a time, counting its items by type and bucket: an exact
// count of what they hold.
func walkAll(ctx context.Context, src scan.Source, tasks []string, concurrency, n int, rng *rand.Rand, sc *Scope) ([]scan.Item, error) {
	if tasks == nil {
		var err error
		if tasks, err = src.Tasks(ctx); err != nil {
			return nil, fmt.Errorf("list scan tasks: %w", err)
		}
	}
	var (
		mu      sync.Mutex
		res     = reservoir{n: n, rng: rng}
		buckets = map[Bucket]*Bucket{}
	)
	sc.Tasks, sc.Exact = len(tasks), true
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, concurrency))
	for _, task := range tasks {
		g.Go(func() error {
			held := map[Bucket]bool{}
			err := src.Walk(gctx, task, "", func(b scan.Batch) error {
				mu.Lock()
				defer mu.Unlock()
				for _, it := range b.Items {
					res.add(it)
					k := Bucket{Type: it.Type, Bucket: it.Bucket}
					if buckets[k] == nil {
						buckets[k] = &Bucket{Type: it.Type, Bucket: it.Bucket}
					}
					buckets[k].Assets++
					held[k] = true
				}
				return nil
			})
			mu.Lock()
			defer mu.Unlock()
			for k := range held {
				buckets[k].Partitions++
			}
			if len(held) > 0 {
				sc.Holding++
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("count the scope: %w", err)
	}
	sc.Assets = res.seen
	tally(sc, buckets)
	return res.items, nil
}

// tally sets the scope's per-type counts and buckets from an exact walk;
// a source that does not know its items' types leaves them to the sample.
func tally(sc *Scope, buckets map[Bucket]*Bucket) {
	if _, unknown := buckets[Bucket{}]; unknown || len(buckets) == 0 {
		return
	}
	sc.Types, sc.TypesExact = map[string]int64{}, true
	for _, b := range buckets {
		sc.Types[b.Type] += b.Assets
		sc.Buckets = append(sc.Buckets, *b)
	}
	slices.SortFunc(sc.Buckets, func(a, b Bucket) int {
		return cmp.Or(strings.Compare(a.Type, b.Type), a.Bucket.Compare(b.Bucket))
	})
}

// elasticScope counts the query's hits with _count (an estimate: the
// walk's point in time is opened later) and draws a random sample of them.
func elasticScope(ctx context.Context, s *scan.Elastic, n int, rng *rand.Rand, p *Plan) ([]scan.Item, error) {
	total, err := s.Searcher.Count(ctx)
	if err != nil {
		return nil, err
	}
	p.Scope = Scope{Units: "queries", Tasks: 1, Assets: total,
		Method: "Elasticsearch _count of the query now; the scan's point in time sees the index as it is then"}
	hits, err := s.Searcher.Sample(ctx, n, rng.Int64())
	if err != nil {
		return nil, err
	}
	items := make([]scan.Item, len(hits))
	for i, h := range hits {
		items[i] = scan.Item{ID: h.ID, Type: h.Type}
	}
	return items, nil
}

// backupScope estimates a snapshot's assets from its SSTables' partition
// indexes, and samples the rows of splits taken at random until it has
// read n.
func backupScope(ctx context.Context, b *scan.Backup, n int, rng *rand.Rand, p *Plan) ([]scan.Item, error) {
	tasks, err := b.Tasks(ctx)
	if err != nil {
		return nil, err
	}
	var entries int64
	for _, t := range b.Snapshot.Tables {
		idx, err := t.Index()
		if err != nil {
			return nil, fmt.Errorf("backup source: %w", err)
		}
		entries += int64(len(idx))
	}
	p.Scope = Scope{Units: "splits", Tasks: len(tasks), Assets: entries,
		Method: fmt.Sprintf("partition entries in the indexes of %d SSTables: at most the assets (one in several SSTables or replicas counts in each, and deleted or expired ones still count)", len(b.Snapshot.Tables))}
	if c := b.Changes; c != nil {
		p.Scope.Assets, p.Scope.Exact = int64(len(c.Keys)), true
		p.Scope.Method = fmt.Sprintf("partitions of the %d SSTables new since the older snapshot and %d whose TTLs may run out in between: the assets changed, deleted ones included", len(c.New), len(c.Expiring))
	}
	res := reservoir{n: n, rng: rng}
	read := 0
	for _, i := range rng.Perm(len(tasks)) {
		if res.seen >= int64(n) {
			break
		}
		if err := b.Walk(ctx, tasks[i], "", func(bt scan.Batch) error {
			for _, it := range bt.Items {
				res.add(it)
			}
			return nil
		}); err != nil {
			return nil, err
		}
		read++
	}
	if read > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("the sample read %d of %d splits at random: %d live assets, about %d over all splits",
			read, len(tasks), res.seen, res.seen*int64(len(tasks))/int64(read)))
	}
	return res.items, nil
}

// day formats a bucket start.
func day(t time.Time) string {
	if t.Truncate(24 * time.Hour).Equal(t) {
		return t.Format("2006-01-02")
	}
	return t.Format(time.RFC3339)
}
