package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// commit is the checkout's revision, set by `make build` and `make image`
// (-ldflags -X main.commit=...) where Go records none.
var commit = "unknown"

// version is the binary's version, commit and Go version, as Go recorded
// them at build time: the module's version when installed by version,
// the checkout's revision when built from one.
func version() string {
	v, rev, dirty := "(devel)", commit, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision":
				rev = s.Value
			case s.Key == "vcs.modified" && s.Value == "true":
				dirty = " (modified)"
			}
		}
	}
	return fmt.Sprintf("%s, commit %s%s, %s", v, rev, dirty, runtime.Version())
}
