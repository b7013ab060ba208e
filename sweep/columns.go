package sweep

import "sort"

// ParamColumns lists the params to show as columns for a set of trials:
// the search space's params in spec order, then any other param a trial
// carries (enqueued configs, retries with changed settings), sorted. spec may
// be nil.
func ParamColumns(spec *Spec, params []map[string]any) []string {
	seen := map[string]bool{}
	var names []string
	if spec != nil {
		for _, p := range spec.Search {
			if !seen[p.Name] {
				seen[p.Name] = true
				names = append(names, p.Name)
			}
		}
	}
	var extra []string
	for _, ps := range params {
		for k := range ps {
			if !seen[k] {
				seen[k] = true
				extra = append(extra, k)
			}
		}
	}
	sort.Strings(extra)
	return append(names, extra...)
}
