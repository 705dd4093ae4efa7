package api

import "testing"

func TestHideShowsServerPathsRelative(t *testing.T) {
	l := Jobs{Dirs: []string{"/srv/ids", "/srv/exports"}}
	for spec, want := range map[string]string{
		"file: /srv/ids/a/ids.txt": "file: a/ids.txt",
		"dir: /srv/exports":        "dir: .",
		"dir: /srv/exports/daily":  "dir: daily",
		"dir: daily":               "dir: daily",
	} {
		if got := l.hide(spec); got != want {
			t.Errorf("hide(%q) = %q, want %q", spec, got, want)
		}
	}
}
