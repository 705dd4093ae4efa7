package stock

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/reprocess/reprocess/assets/assetstest/need"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/reprocess/reprocess/assets/elastic"
	"github.com/reprocess/reprocess/reprocess/job"
	"github.com/reprocess/reprocess/reprocess/transform"
)

// A zero-downtime reindex writes a new index created from the spec's
// mapping, leaves the alias on the old index while it runs, and its
// on-success step moves the alias to the new index alone, keeping the old
// one; taken again, the step changes nothing.
func TestZeroDowntimeReindexOnRealElasticsearch(t *testing.T) {
	es := realES(t)
	ctx := context.Background()
	old, index, alias := aliasedIndex(t, es)
	j, err := job.Read(fmt.Appendf(nil, `name: zdr
source: {kind: ids, ids: [6ba7b810-9dad-11d1-80b4-00c04fd430c8]}
transform:
  name: reindex
  version: 1
  index: %s
  mapping_version: 2
  alias: %s
  mapping: {mappings: {properties: {asset_type: {type: keyword}}}}
`, index, alias))
	if err != nil {
		t.Fatal(err)
	}
	b := &Builder{ES: func() (*elasticsearch.Client, error) { return es, nil }}
	defer b.Close()
	tr, err := b.Build(j)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Build(j); err != nil { // another processor of the job
		t.Fatalf("a second build, the index existing: %v", err)
	}
	for _, a := range someAssets(20) {
		if _, err := tr.Apply(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := aliasIndices(ctx, es, alias); !slices.Equal(got, []string{old}) {
		t.Fatalf("while the job runs the alias names %v; want the old index alone", got)
	}
	if typ := fieldType(t, es, index, "asset_type"); typ != "keyword" {
		t.Errorf("asset_type is mapped %q in the new index; want keyword, as the spec's mapping says", typ)
	}
	f := tr.(transform.Finisher)
	for range 2 {
		if err := f.Finish(ctx); err != nil {
			t.Fatal(err)
		}
		if got, _ := aliasIndices(ctx, es, alias); !slices.Equal(got, []string{index}) {
			t.Errorf("after the on-success step the alias names %v; want %s alone", got, index)
		}
	}
	res, err := es.Indices.Exists([]string{old})
	if err != nil || res.StatusCode != 200 {
		t.Errorf("the old index is gone (%v, %v); it stays until its owner removes it", res, err)
	}

	// An alias that is an index's name cannot be switched: the error says so.
	clash := &Reindex{es: es, index: index, alias: old}
	if err := clash.Finish(ctx); err == nil || !strings.Contains(err.Error(), "invalid_alias_name") {
		t.Errorf("switching an alias named like an index: %v; want Elasticsearch's reason", err)
	}
}

// aliasedIndex makes an index old with an alias, and names the index a
// reindex writes; both are deleted when the test ends.
func aliasedIndex(t *testing.T, es *elasticsearch.Client) (old, index, alias string) {
	x := fmt.Sprintf("%08x", rand.Uint32())
	old, index, alias = "zdr-old-"+x, "zdr-new-"+x, "zdr-"+x
	t.Cleanup(func() {
		if res, err := es.Indices.Delete([]string{old, index}); err == nil {
			res.Body.Close()
		}
	})
	ok := succeeds(t)
	ok(es.Indices.Create(old))
	ok(es.Indices.UpdateAliases(strings.NewReader(`{"actions": [{"add": {"index": "` + old + `", "alias": "` + alias + `"}}]}`)))
	return old, index, alias
}

func realES(t *testing.T) *elasticsearch.Client {
	t.Helper()
	es, err := elastic.NewClient(elastic.Config{URLs: need.Service(t, "REPROCESS_TEST_ES_URL", "real Elasticsearch")})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// succeeds fails the test unless an Elasticsearch call succeeded.
func succeeds(t *testing.T) func(*esapi.Response, error) {
	return func(res *esapi.Response, err error) {
		t.Helper()
		if err != nil || res.IsError() {
			t.Fatalf("elasticsearch: %v %v", res, err)
		}
		res.Body.Close()
	}
}

// fieldType is how index maps a top-level field.
func fieldType(t *testing.T, es *elasticsearch.Client, index, field string) string {
	t.Helper()
	res, err := es.Indices.GetMapping(es.Indices.GetMapping.WithIndex(index))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]struct {
		Mappings struct {
			Properties map[string]struct{ Type string }
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m[index].Mappings.Properties[field].Type
}
