package stock

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/transform"
)

// ReverseIndex writes, for each asset, the row (its value of a metadata
// field, its id) into a table beside the assets (assets_by_<field>), to
// find assets by that field. It records the value it indexed in the fact
// named like the table, so when the field changes (the transform reads
// production: a re-application follows) the old row is deleted. An
// asset without the field, or with it empty, has no row.
type ReverseIndex struct {
	version int
	field   string
	table   string
	store   assets.ReverseIndexer
}

// ErrNoReverseIndex refuses a reverse index on a store that keeps none.
var ErrNoReverseIndex = errors.New("reverse_index needs the Cassandra store (store.kind: cassandra): the embedded store keeps no reverse index tables")

func newReverseIndex(ctx context.Context, store assets.Store, version int, spec job.ReverseIndex) (*ReverseIndex, error) {
	ri, ok := store.(assets.ReverseIndexer)
	if !ok {
		return nil, ErrNoReverseIndex
	}
	r := &ReverseIndex{version: version, field: spec.Field, table: spec.TableName(), store: ri}
	if err := ri.EnsureReverseIndex(ctx, r.table); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *ReverseIndex) Name() string          { return "reverse_index" }
func (r *ReverseIndex) Version() int          { return r.version }
func (r *ReverseIndex) ReadsProduction() bool { return true } // it indexes metadata

// MetadataKeys implements transform.Inputs: the field indexed.
func (r *ReverseIndex) MetadataKeys() ([]string, bool) { return []string{r.field}, true }

// Apply upserts a's row, deleting the one of the value it was indexed
// under before, if that differs.
func (r *ReverseIndex) Apply(ctx context.Context, a assets.Asset) (transform.Result, error) {
	value := a.Metadata[r.field]
	if was := a.Facts[r.table]; was != "" && was != value {
		if err := r.store.UnindexValue(ctx, r.table, was, a.ID); err != nil {
			return transform.Result{}, err
		}
	}
	if value != "" {
		if err := r.store.IndexValue(ctx, r.table, value, a.ID); err != nil {
			return transform.Result{}, err
		}
	}
	return transform.Result{Facts: map[string]string{r.table: value}}, nil
}

// buildReverseIndex creates the job's table if it is missing.
func buildReverseIndex(store assets.Store, t job.Transform) (*ReverseIndex, error) {
	if store == nil {
		return nil, errors.New("reverse_index: no store configured")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := newReverseIndex(ctx, store, t.Version, *t.ReverseIndex)
	if err != nil {
		return nil, fmt.Errorf("reverse_index %s: %w", t.ReverseIndex.TableName(), err)
	}
	return r, nil
}
