package sweep

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// oomPolicies are the values of budget.on_oom (or its retry key).
var oomPolicies = []string{OOMNone, OOMSmallerBatch, OOMGradientCheckpointing}

// parseOnOOM reads budget.on_oom: either a policy name or {retry: name}, the
// form that leaves room for more keys later.
func (p *specParser) parseOnOOM(f entry) string {
	n := f.v
	field := f.field
	if n.Kind == yaml.MappingNode {
		entries, ok := p.mapping(n, field, []string{"retry"})
		if !ok || len(entries) == 0 {
			return ""
		}
		n, field = entries[0].v, entries[0].field
	}
	s, ok := p.str(n, field)
	if !ok {
		return ""
	}
	if !contains(oomPolicies, s) {
		p.errf(n, field, "unknown OOM policy %q%s (policies: %s)", s, didYouMean(s, oomPolicies), strings.Join(oomPolicies, ", "))
		return ""
	}
	if s == OOMNone {
		return ""
	}
	return s
}

// parseKeep reads `keep: all | best-epoch | best-trials:N` and the repeat
// settings' cross-checks (repeat_seeds defaults to 2 when repeat_top is set).
func (p *specParser) parseKeep(byKey map[string]entry, spec *Spec) {
	if b := &spec.Budget; b.RepeatTop > 0 && b.RepeatSeeds == 0 {
		b.RepeatSeeds = 2
	}
	spec.Keep = Retention{Mode: KeepAll}
	e, ok := byKey["keep"]
	if !ok {
		return
	}
	s, ok := p.str(e.v, e.field)
	if !ok {
		return
	}
	modes := []string{KeepAll, KeepBestEpoch, KeepBestTrials + ":N"}
	switch {
	case s == KeepAll, s == KeepBestEpoch:
		spec.Keep.Mode = s
	case strings.HasPrefix(s, KeepBestTrials+":"):
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(s, KeepBestTrials+":")))
		if err != nil || n < 1 {
			p.errf(e.v, e.field, "best-trials needs a count of at least 1, such as best-trials:5, got %q", s)
			return
		}
		spec.Keep = Retention{Mode: KeepBestTrials, Trials: n}
	default:
		p.errf(e.v, e.field, "unknown keep policy %q%s (policies: %s)", s, didYouMean(s, modes), strings.Join(modes, ", "))
	}
}
