package objective

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ReferenceDigests fingerprints the reference images each scorer of spec
// reads (scorer name → digest of the images' names and bytes), so a resumed
// sweep notices reference images that changed under an unchanged path.
// Scorers without references are left out; a folder that cannot be read
// digests as "unreadable: …".
func ReferenceDigests(spec Spec, baseDir string) map[string]string {
	out := map[string]string{}
	for i, s := range spec.Scorers {
		if s.References == "" {
			continue
		}
		out[scorerName(spec.Scorers, i)] = digestFolder(resolve(baseDir, s.References))
	}
	return out
}

func digestFolder(dir string) string {
	refs, err := listReferences(dir)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	h := sha256.New()
	for _, r := range refs {
		rel, _ := filepath.Rel(dir, r.Path)
		fmt.Fprintf(h, "%s\x00", rel)
		f, err := os.Open(r.Path)
		if err != nil {
			return "unreadable: " + err.Error()
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "unreadable: " + err.Error()
		}
	}
	return fmt.Sprintf("%d image(s) %s", len(refs), hex.EncodeToString(h.Sum(nil))[:16])
}

// scorerFields is a scorer's settings as a flat map, weight aside.
func scorerFields(s ScorerSpec) map[string]string {
	s.Weight = 0
	raw, _ := json.Marshal(s)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	out := map[string]string{}
	for k, v := range m {
		b, _ := json.Marshal(v)
		out[k] = string(b)
	}
	return out
}

func weightOf(s ScorerSpec) float64 {
	if s.Weight == 0 {
		return 1
	}
	return s.Weight
}

func directionOf(s Spec) string {
	if s.Direction == "" {
		return Maximize
	}
	return s.Direction
}

// DiffObjectives lists how objective cur differs from old, one line per
// change ("direction: maximize → minimize", "scorer health: weight 0.5 → 1"),
// empty when they score alike. oldRefs/curRefs are ReferenceDigests of each.
func DiffObjectives(old, cur Spec, oldRefs, curRefs map[string]string) []string {
	var out []string
	if a, b := directionOf(old), directionOf(cur); a != b {
		out = append(out, fmt.Sprintf("direction: %s → %s", a, b))
	}
	byName := func(s Spec) (map[string]ScorerSpec, []string) {
		m := map[string]ScorerSpec{}
		var names []string
		for i, sc := range s.Scorers {
			n := scorerName(s.Scorers, i)
			m[n] = sc
			names = append(names, n)
		}
		return m, names
	}
	am, an := byName(old)
	bm, bn := byName(cur)
	for _, n := range an {
		if _, ok := bm[n]; !ok {
			out = append(out, fmt.Sprintf("removed scorer %s (weight %g)", n, weightOf(am[n])))
		}
	}
	for _, n := range bn {
		b := bm[n]
		a, ok := am[n]
		if !ok {
			out = append(out, fmt.Sprintf("added scorer %s (kind %s, weight %g)", n, b.Kind, weightOf(b)))
			continue
		}
		if wa, wb := weightOf(a), weightOf(b); wa != wb {
			out = append(out, fmt.Sprintf("scorer %s: weight %g → %g", n, wa, wb))
		}
		fa, fb := scorerFields(a), scorerFields(b)
		keys := map[string]bool{}
		for k := range fa {
			keys[k] = true
		}
		for k := range fb {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			if fa[k] != fb[k] {
				out = append(out, fmt.Sprintf("scorer %s: %s %s → %s", n, k, orUnset(fa[k]), orUnset(fb[k])))
			}
		}
		if fa["references"] == fb["references"] && oldRefs[n] != "" && curRefs[n] != "" && oldRefs[n] != curRefs[n] {
			out = append(out, fmt.Sprintf("scorer %s: reference images changed (%s → %s)", n, oldRefs[n], curRefs[n]))
		}
	}
	return out
}

func orUnset(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

// Reusable names the scorers of cur whose stored components of an epoch
// scored under old still hold: same kind, settings and reference images;
// only the weight may differ.
func Reusable(old, cur Spec, oldRefs, curRefs map[string]string) map[string]bool {
	am := map[string]ScorerSpec{}
	for i, sc := range old.Scorers {
		am[scorerName(old.Scorers, i)] = sc
	}
	out := map[string]bool{}
	for i, b := range cur.Scorers {
		n := scorerName(cur.Scorers, i)
		a, ok := am[n]
		if !ok || oldRefs[n] != curRefs[n] {
			continue
		}
		fa, fb := scorerFields(a), scorerFields(b)
		same := len(fa) == len(fb)
		for k, v := range fa {
			same = same && fb[k] == v
		}
		out[n] = same
	}
	return out
}

// Rescore scores a stored epoch under o. The components in prior (as
// stored with the epoch) of the scorers in reuse keep their raw and
// normalised values under o's weights; the other scorers score in afresh
// (sample scorers from its images; loss and validation scorers need its
// losses). The value combines them exactly as ScoreEpoch does, so a
// re-scored epoch compares with a freshly scored one. An epoch that cannot
// be scored again is returned Unscorable with the reason.
func (o *Objective) Rescore(ctx context.Context, in EpochInput, prior []Component, reuse map[string]bool) (Result, error) {
	kept := map[string]Component{}
	for _, c := range prior {
		if reuse[c.Name] && !c.Unscorable {
			kept[c.Name] = c
		}
	}
	fresh := &Objective{direction: o.direction, ratings: o.ratings, super: o.super}
	for _, s := range o.scorers {
		if _, ok := kept[s.name]; !ok && s.spec.Kind != KindRating {
			fresh.scorers = append(fresh.scorers, s)
		}
	}
	scored := map[string]Component{}
	if len(fresh.scorers) > 0 {
		res, err := fresh.ScoreEpoch(ctx, in)
		if err != nil {
			return Result{}, err
		}
		if res.Unscorable {
			return res, nil
		}
		for _, c := range res.Components {
			scored[c.Name] = c
		}
	}
	var res Result
	var sumW, sumWN float64
	var missing []string
	for _, s := range o.scorers {
		if s.spec.Kind == KindRating {
			continue
		}
		c, ok := kept[s.name]
		if !ok {
			c, ok = scored[s.name]
		}
		if !ok {
			missing = append(missing, s.name)
			continue
		}
		c.Weight = s.weight
		sumW += s.weight
		sumWN += s.weight * c.Normalized
		res.Components = append(res.Components, c)
	}
	if len(missing) > 0 || sumW == 0 {
		return Result{Unscorable: true, Components: res.Components,
			Reason: fmt.Sprintf("epoch %d: no score for %s", in.Epoch, strings.Join(missing, ", "))}, nil
	}
	res.Value = sumWN / sumW
	if o.direction == Minimize {
		res.Value = 1 - res.Value
	}
	return res, nil
}
