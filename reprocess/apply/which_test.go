package apply_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/reprocess/reprocess/reprocess/apply"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/transform"
	"github.com/reprocess/reprocess/reprocess/transform/orientation"
)

// Which decides for every caller: a registered Go transform, then the
// spec's facts, then a stock transform; anything else says what would do.
func TestWhich(t *testing.T) {
	reg := transform.NewRegistry(orientation.All()...)
	for _, tc := range []struct {
		name, transform string
		reg             *transform.Registry
		want            apply.Kind
		err             string
	}{
		{"go", "{name: orientation, version: 1}", reg, apply.KindGo, ""},
		{"go before facts", "{name: orientation, version: 1, facts: {x: '\"y\"'}}", reg, apply.KindGo, ""},
		{"facts", "{name: tag, version: 1, facts: {x: '\"y\"'}}", reg, apply.KindCEL, ""},
		{"facts without a registry", "{name: tag, version: 1, facts: {x: '\"y\"'}}", nil, apply.KindCEL, ""},
		{"delete", "{name: delete, version: 1}", reg, apply.KindStock, ""},
		{"workflow", "{name: workflow, version: 1, workflow: {name: w, topic: t}}", nil, apply.KindStock, ""},
		{"service_facts", "{name: service_facts, version: 1, service: {url: 'http://x/f', fields: [a]}}", reg, apply.KindStock, ""},
		{"reverse_index", "{name: reverse_index, version: 1, reverse_index: {field: owner}}", reg, apply.KindStock, ""},
		{"unknown", "{name: ghost, version: 1}", reg, "", "no transform ghost"},
		{"unknown version", "{name: orientation, version: 9}", reg, "", "orientation has no version 9"},
		{"no registry", "{name: ghost, version: 1}", nil, "", "this process has no Go transforms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, err := job.Read([]byte("name: j\nsource: {kind: ids, ids: [\"5f1c3a00-c4a1-11f0-8000-000000000001\"]}\ntransform: " + tc.transform + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := apply.Which(j, tc.reg)
			switch {
			case tc.err == "" && (err != nil || got != tc.want):
				t.Errorf("%s, %v; want %s", got, err, tc.want)
			case tc.err != "" && (!errors.Is(err, apply.ErrUnknownTransform) || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "declare transform.facts")):
				t.Errorf("%s, %v; want ErrUnknownTransform saying %q and what would do", got, err, tc.err)
			}
		})
	}
}
