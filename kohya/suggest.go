package kohya

import "strings"

// Nearest returns the candidate closest to name by Damerau–Levenshtein
// distance (insertions, deletions, substitutions and adjacent transpositions
// each cost 1, compared case-insensitively), and true, when that distance is
// at most max(2, len(name)/4): close enough to be a typo rather than a
// different word. Ties go to the lexically smallest candidate, so the answer
// does not depend on the candidates' order. With no close candidate it
// returns "", false.
func Nearest(name string, candidates []string) (string, bool) {
	if name == "" {
		return "", false
	}
	target := []rune(strings.ToLower(name))
	limit := len(target) / 4
	if limit < 2 {
		limit = 2
	}
	best, bestDist := "", limit+1
	for _, c := range candidates {
		d := damerauLevenshtein(target, []rune(strings.ToLower(c)), bestDist)
		if d < bestDist || d == bestDist && best != "" && c < best {
			best, bestDist = c, d
		}
	}
	if best == "" || bestDist > limit {
		return "", false
	}
	return best, true
}

// damerauLevenshtein is the optimal-string-alignment distance between a and
// b. It stops early and returns a value above bound once every alignment is
// known to exceed it, which keeps a scan over the whole argument table cheap.
func damerauLevenshtein(a, b []rune, bound int) int {
	if d := len(a) - len(b); d > bound || -d > bound {
		return bound + 1
	}
	// Three rolling rows: two back for transpositions, one back, current.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin > bound {
			return bound + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
