package stock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// createIndex creates index with body (settings, mappings) unless it
// exists: every processor of the job builds the transform.
func createIndex(ctx context.Context, es *elasticsearch.Client, index string, body map[string]any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("transform.mapping: %w", err)
	}
	res, err := es.Indices.Create(index, es.Indices.Create.WithBody(bytes.NewReader(b)), es.Indices.Create.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("create index %s: %w", index, err)
	}
	defer res.Body.Close()
	if !res.IsError() {
		return nil
	}
	var e esError
	if msg := e.read(res); e.Error.Type != "resource_already_exists_exception" {
		return fmt.Errorf("create index %s from transform.mapping: %s", index, msg)
	}
	return nil
}

// switchAlias points alias at index alone, in one _aliases request that
// removes it from the indices it named and adds it to index, so a search
// through it sees the old indices or the new one, never neither. The old
// indices stay.
func switchAlias(ctx context.Context, es *elasticsearch.Client, alias, index string) error {
	now, err := aliasIndices(ctx, es, alias)
	if err != nil || slices.Equal(now, []string{index}) {
		return err
	}
	var actions []map[string]any
	for _, old := range now {
		if old != index {
			actions = append(actions, map[string]any{"remove": map[string]string{"index": old, "alias": alias}})
		}
	}
	actions = append(actions, map[string]any{"add": map[string]string{"index": index, "alias": alias}})
	b, _ := json.Marshal(map[string]any{"actions": actions})
	res, err := es.Indices.UpdateAliases(bytes.NewReader(b), es.Indices.UpdateAliases.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("switch alias %s to %s: %w", alias, index, err)
	}
	defer res.Body.Close()
	if !res.IsError() {
		return nil
	}
	var e esError
	msg := e.read(res)
	// Another process of the job may have switched it in between.
	if again, err := aliasIndices(ctx, es, alias); err == nil && slices.Equal(again, []string{index}) {
		return nil
	}
	return fmt.Errorf("switch alias %s from %v to %s: %s", alias, now, index, msg)
}

// aliasIndices lists the indices alias names, sorted; none if it names
// none.
func aliasIndices(ctx context.Context, es *elasticsearch.Client, alias string) ([]string, error) {
	res, err := es.Indices.GetAlias(es.Indices.GetAlias.WithName(alias), es.Indices.GetAlias.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("read alias %s: %w", alias, err)
	}
	defer res.Body.Close()
	if res.StatusCode == 404 {
		return nil, nil
	}
	if res.IsError() {
		var e esError
		return nil, fmt.Errorf("read alias %s: %s", alias, e.read(res))
	}
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		return nil, fmt.Errorf("read alias %s: %w", alias, err)
	}
	return slices.Sorted(maps.Keys(m)), nil
}

// esError is Elasticsearch's error answer.
type esError struct {
	Error struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
}

// read decodes res's error and describes it.
func (e *esError) read(res *esapi.Response) string {
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	if err = errors.Join(err, json.Unmarshal(body, e)); err != nil || e.Error.Type == "" {
		return fmt.Sprintf("%s: %s", res.Status(), excerpt(body))
	}
	return fmt.Sprintf("%s: %s: %s", res.Status(), e.Error.Type, e.Error.Reason)
}
