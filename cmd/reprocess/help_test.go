package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandTeaches checks that every command has a summary and
// that every runnable one shows examples in its --help.
func TestEveryCommandTeaches(t *testing.T) {
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			n++
			path := sub.CommandPath()
			if sub.Short == "" {
				t.Errorf("%s: no short description", path)
			}
			if sub.Runnable() {
				args := append(strings.Fields(strings.TrimPrefix(path, "reprocess ")), "--help")
				out, err := cli(t, args...)
				if err != nil || !strings.Contains(out, "Examples:") {
					t.Errorf("%s --help shows no examples (err %v)", path, err)
				}
			}
			walk(sub)
		}
	}
	walk(newRoot())
	if n < 25 {
		t.Errorf("walked %d commands, want every one (more than 25)", n)
	}
}
