package plan

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// maxBuckets bounds the bucket rows the text shows; JSON has them all.
const maxBuckets = 40

// Write writes the plan as text for a person.
func (p *Plan) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "plan of job %s (nothing was written)\n", p.Job)
	p.writeScope(tw)
	p.writeFilter(tw)
	fmt.Fprintf(tw, "transform\t%s v%d (%s)\n", p.Transform.Name, p.Transform.Version, p.Transform.Kind)
	if p.Transform.Effect != "" {
		fmt.Fprintf(tw, "\t%s\n", p.Transform.Effect)
	}
	p.writeSamples(tw)
	fmt.Fprintf(tw, "duration\t%s\n", p.Duration)
	for _, n := range p.Notes {
		fmt.Fprintf(tw, "note\t%s\n", n)
	}
	return tw.Flush()
}

func (p *Plan) writeScope(tw io.Writer) {
	how := "estimate"
	if p.Scope.Exact {
		how = "exact"
	}
	held := ""
	if p.Scope.Exact {
		held = fmt.Sprintf(" in %d", p.Scope.Holding)
	}
	fmt.Fprintf(tw, "source\t%s: %d assets%s of %d %s (%s: %s)\n", p.Source, p.Scope.Assets, held, p.Scope.Tasks, p.Scope.Units, how, p.Scope.Method)
	if len(p.Scope.Types) > 0 {
		kind := "exact"
		if !p.Scope.TypesExact {
			kind = "estimated from the sample"
		}
		parts := []string{}
		for _, t := range slices.Sorted(maps.Keys(p.Scope.Types)) {
			parts = append(parts, fmt.Sprintf("%s %d", t, p.Scope.Types[t]))
		}
		fmt.Fprintf(tw, "types\t%s (%s)\n", strings.Join(parts, ", "), kind)
	}
	if n := len(p.Scope.Buckets); n > maxBuckets {
		fmt.Fprintf(tw, "buckets\t%d (type, time bucket) pairs: -o json lists them\n", n)
	} else if n > 0 {
		fmt.Fprintf(tw, "buckets\tTYPE\tBUCKET\tASSETS\tPARTITIONS\n")
		for _, b := range p.Scope.Buckets {
			fmt.Fprintf(tw, "\t%s\t%s\t%d\t%d\n", b.Type, day(b.Bucket), b.Assets, b.Partitions)
		}
	}
}

func (p *Plan) writeFilter(tw io.Writer) {
	f := p.Filter
	if f == nil {
		fmt.Fprintf(tw, "filter\tnone: every asset of the source\n")
		return
	}
	how := "random sample"
	if f.Exact {
		how = "every asset of the scope"
	}
	fmt.Fprintf(tw, "filter\t%s\n", f.Expr)
	margin := ""
	if f.Margin > 0 {
		margin = fmt.Sprintf(" (95%%: %d to %d)", int64(float64(p.Scope.Assets)*max(0, f.Selectivity-f.Margin)),
			int64(float64(p.Scope.Assets)*min(1, f.Selectivity+f.Margin)))
	}
	fmt.Fprintf(tw, "\tkeeps %d of %d read (%.1f%%; %s), %d missing, %d errors: about %d assets%s\n",
		f.Matched, f.Sampled, 100*f.Selectivity, how, f.Missing, f.Errors, p.Duration.Assets, margin)
	if f.FirstError != "" {
		fmt.Fprintf(tw, "\tfirst error (the scan would fail on it): %s\n", f.FirstError)
	}
}

func (p *Plan) writeSamples(tw io.Writer) {
	if len(p.Samples) == 0 {
		fmt.Fprintf(tw, "samples\tnone: no sampled asset passes the filter\n")
		return
	}
	fmt.Fprintf(tw, "samples\t%d assets, transformed here and written nowhere:\n", len(p.Samples))
	for _, s := range p.Samples {
		fmt.Fprintf(tw, "\t%s %s: %s\n", s.ID, s.Type, s.Outcome)
		for _, k := range slices.Sorted(maps.Keys(s.Added)) {
			fmt.Fprintf(tw, "\t  + %s = %q\n", k, s.Added[k])
		}
		for _, k := range slices.Sorted(maps.Keys(s.Changed)) {
			fmt.Fprintf(tw, "\t  ~ %s: %q -> %q\n", k, s.Changed[k].Before, s.Changed[k].After)
		}
		if s.Marker.Before != s.Marker.After {
			fmt.Fprintf(tw, "\t  marker %s: %s -> %s\n", p.Transform.Name, dash(s.Marker.Before), s.Marker.After)
		}
		if s.Error != "" {
			fmt.Fprintf(tw, "\t  error: %s\n", s.Error)
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// String says the duration in words.
func (d Duration) String() string {
	if d.Rate <= 0 {
		return fmt.Sprintf("%d assets, unlimited rate (rate.limit unset): no estimate", d.Assets)
	}
	s := fmt.Sprintf("%d assets at %g/s: %s", d.Assets, d.Rate, seconds(d.Seconds))
	if d.MaxSeconds > 0 {
		s += fmt.Sprintf(" (adaptive: up to %s at its floor of %g/s)", seconds(d.MaxSeconds), d.MinRate)
	}
	return s
}

func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Second / 10).String()
}
