package backup_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/backup"
	"github.com/reprocess/reprocess/assets/sstable"
)

func TestAssetFromRow(t *testing.T) {
	id := uuid.MustParse("5f1c3a00-c4a1-11f0-8000-000000000001")
	created := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	cols := []string{"asset_id", "asset_type", "created_at", "facts", "metadata", "transforms", "version"}
	row := func(vals ...any) sstable.CQLRow { return sstable.CQLRow{Columns: cols, Values: vals} }
	for _, tc := range []struct {
		name string
		row  sstable.CQLRow
		want assets.Asset
		err  string
	}{
		{"every column", row(id, "image", sstable.Timestamp(created.UnixMilli()), sstable.Map{{Key: "w", Value: "640"}},
			sstable.Map{{Key: "title", Value: "a"}}, sstable.Map{{Key: "orientation", Value: int64(2)}}, int64(7)),
			assets.Asset{ID: assets.ID(id), Type: "image", CreatedAt: created, Version: 7, Facts: map[string]string{"w": "640"},
				Metadata: map[string]string{"title": "a"}, Transforms: map[string]int{"orientation": 2}}, ""},
		{"nulls", row(id, nil, nil, nil, sstable.Map{}, nil, nil), assets.Asset{ID: assets.ID(id)}, ""},
		{"no id", row(nil, "image", nil, nil, nil, nil, nil), assets.Asset{}, "asset_id: missing"},
		{"a wrong type", row(id, int64(3), nil, nil, nil, nil, nil), assets.Asset{}, "asset_type: 3 (int64)"},
		{"a wrong map", row(id, nil, nil, nil, sstable.Map{{Key: "k", Value: int64(1)}}, nil, nil), assets.Asset{}, "metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := backup.AssetFromRow(tc.row)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(a, tc.want) {
				t.Errorf("got %+v, %v\nwant %+v", a, err, tc.want)
			}
		})
	}
}

func TestHoldsAssets(t *testing.T) {
	for _, tc := range []struct {
		schema *sstable.Schema
		want   bool
	}{
		{&sstable.Schema{Table: "assets", PartitionKey: []string{"asset_id"}}, true},
		{&sstable.Schema{Table: "jobs", PartitionKey: []string{"job_id"}}, false},
		{&sstable.Schema{Table: "t", PartitionKey: []string{"asset_id", "k2"}}, false},
		{nil, false},
	} {
		if got := backup.HoldsAssets(&sstable.Snapshot{Schema: tc.schema}); got != tc.want {
			t.Errorf("schema %+v: %v, want %v", tc.schema, got, tc.want)
		}
	}
}
