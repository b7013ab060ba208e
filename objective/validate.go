package objective

import (
	"fmt"
	"math"
	"os"
	"time"
)

// Kinds lists the scorer kinds, in documentation order.
func Kinds() []string {
	return []string{KindReference, KindPreservation, KindHealth, KindDiversity, KindLoss, KindValidation, KindCommand, KindRating}
}

// Validate checks spec without running anything and returns every problem
// found, each naming the scorer (scorers[i]) and field: an unknown direction,
// kind, mode or stat (with the nearest valid name), a negative or non-finite
// weight, a missing or empty reference folder, a command without argv or
// with a bad timeout, and an objective with no weighted scorer. baseDir
// resolves relative reference folders. It is what `lorasweep validate` shows.
func Validate(spec Spec, baseDir string) []error {
	var errs []error
	switch spec.Direction {
	case "", Maximize, Minimize:
	default:
		errs = append(errs, fmt.Errorf("objective.direction: %q is not maximize or minimize%s", spec.Direction, suggest(spec.Direction, []string{Maximize, Minimize})))
	}
	if len(spec.Scorers) == 0 {
		errs = append(errs, fmt.Errorf("objective.scorers: empty; add at least one scorer (e.g. {kind: health})"))
	}
	valued := 0
	for i, s := range spec.Scorers {
		at := fmt.Sprintf("objective.scorers[%d]", i)
		if s.Name != "" {
			at += " (" + s.Name + ")"
		}
		if s.Kind != KindRating {
			valued++
		}
		known := false
		for _, k := range Kinds() {
			known = known || k == s.Kind
		}
		if !known {
			errs = append(errs, fmt.Errorf("%s.kind: unknown scorer %q%s", at, s.Kind, suggest(s.Kind, Kinds())))
			continue
		}
		if s.Weight < 0 || math.IsNaN(s.Weight) || math.IsInf(s.Weight, 0) {
			errs = append(errs, fmt.Errorf("%s.weight: %v must be a finite number ≥ 0 (use direction to minimise)", at, s.Weight))
		}
		switch s.Kind {
		case KindReference, KindPreservation:
			if s.References == "" {
				errs = append(errs, fmt.Errorf("%s.references: %s needs a folder of reference images", at, s.Kind))
			} else if err := checkRefDir(resolve(baseDir, s.References)); err != nil {
				errs = append(errs, fmt.Errorf("%s.references: %w", at, err))
			}
			switch s.Mode {
			case "", ModePaired, ModeSet:
			default:
				errs = append(errs, fmt.Errorf("%s.mode: %q is not paired or set%s", at, s.Mode, suggest(s.Mode, []string{ModePaired, ModeSet})))
			}
		case KindLoss:
			switch s.Stat {
			case "", StatFinal, StatMin, StatMean:
			default:
				errs = append(errs, fmt.Errorf("%s.stat: %q is not final, min or mean%s", at, s.Stat, suggest(s.Stat, []string{StatFinal, StatMin, StatMean})))
			}
		case KindCommand:
			if len(s.Run) == 0 || s.Run[0] == "" {
				errs = append(errs, fmt.Errorf("%s.run: command scorer needs an argv, e.g. [python, scorers/clip_score.py]", at))
			}
			if s.Timeout != "" {
				if d, err := time.ParseDuration(s.Timeout); err != nil || d <= 0 {
					errs = append(errs, fmt.Errorf("%s.timeout: %q is not a positive duration such as 5m", at, s.Timeout))
				}
			}
			if s.References != "" {
				if err := checkRefDir(resolve(baseDir, s.References)); err != nil {
					errs = append(errs, fmt.Errorf("%s.references: %w", at, err))
				}
			}
		}
		if s.Scale < 0 {
			errs = append(errs, fmt.Errorf("%s.scale: %v must be > 0", at, s.Scale))
		}
		for _, p := range s.Prompts {
			if p < 0 {
				errs = append(errs, fmt.Errorf("%s.prompts: prompt index %d is negative", at, p))
			}
		}
	}
	if len(spec.Scorers) > 0 && valued == 0 {
		errs = append(errs, fmt.Errorf("objective.scorers: only rating scorers; ratings re-rank finished trials but cannot score epochs — add e.g. {kind: health}"))
	}
	return errs
}

func checkRefDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("reference folder: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("reference folder %s is not a directory", dir)
	}
	refs, err := listReferences(dir)
	if err != nil {
		return err
	}
	if len(refs) == 0 {
		return fmt.Errorf("reference folder %s holds no PNG, JPEG or WebP images", dir)
	}
	return nil
}

// suggest returns `; did you mean "x"?` for the nearest of names within two
// edits, or "".
func suggest(got string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(got, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
