// Package stock holds the transforms every deployment has: delete (by the
// job's filter, dry-run unless confirmed). Build makes them from a job.
package stock

import (
	"context"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/transform"
)

// Build returns the stock transform a job names, or nil, nil when the
// job's transform is not a stock one.
func Build(j *job.Job) (transform.Transform, error) {
	switch j.Transform.Name {
	case "delete":
		return &Delete{version: j.Transform.Version, dryRun: !j.Transform.Deletes()}, nil
	}
	return nil, nil
}

// Delete removes every asset its job selects (the job's filter is the
// rule). In dry run, the default, it only counts them.
type Delete struct {
	version int
	dryRun  bool
}

func (d *Delete) Name() string { return "delete" }
func (d *Delete) Version() int { return d.version }
func (d *Delete) DryRun() bool { return d.dryRun }
func (d *Delete) Apply(context.Context, assets.Asset) (transform.Result, error) {
	return transform.Result{Delete: true}, nil
}
