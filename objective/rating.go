package objective

import (
	"context"
	"fmt"
	"sort"
)

// RatingValue is one human judgement of a finished trial: a star rating, or
// a pairwise pick between this trial and Opponent.
type RatingValue struct {
	// Stars is 1..5; 0 means this value is a pairwise pick.
	Stars float64
	// Opponent is the other trial of a pairwise pick, Won whether this trial
	// was preferred.
	Opponent int
	Won      bool
}

// RatingSource reads the ratings stored for a trial. Storage implements it;
// the objective only reads.
type RatingSource interface {
	Ratings(ctx context.Context, trial int) ([]RatingValue, error)
}

// TrialValue is a finished trial's stored value.
type TrialValue struct {
	Number int
	Value  float64
}

// RankedTrial is a trial's place in the ratings view. Value is the stored
// value, unchanged; Rank orders the view (higher is better).
type RankedTrial struct {
	Number int
	Value  float64
	// Rating is the human rating in 0..1 ((stars−1)/4 averaged with the
	// Laplace-smoothed win rate of picks); Ratings how many judgements
	// it rests on (0: none, Rating is then 0 and unused).
	Rating  float64
	Ratings int
	Rank    float64
}

// Rerank orders finished trials for the ratings view: a rated trial's rank
// is the weighted mean of its stored value (as goodness in 0..1, flipped for
// minimize) and its rating, weighted by the rating scorer's weight against
// the other scorers' total; an unrated trial ranks by its value alone. The
// stored values are returned unchanged: ratings never rewrite them. Without
// a rating scorer or a RatingSource it orders by value.
func (o *Objective) Rerank(ctx context.Context, trials []TrialValue) ([]RankedTrial, error) {
	var wr, wo float64
	for _, s := range o.scorers {
		if s.spec.Kind == KindRating {
			wr += s.weight
		} else {
			wo += s.weight
		}
	}
	out := make([]RankedTrial, len(trials))
	for i, t := range trials {
		good := t.Value
		if o.direction == Minimize {
			good = 1 - good
		}
		r := RankedTrial{Number: t.Number, Value: t.Value, Rank: good}
		if wr > 0 && o.ratings != nil {
			vals, err := o.ratings.Ratings(ctx, t.Number)
			if err != nil {
				return nil, fmt.Errorf("read ratings of trial %d: %w", t.Number, err)
			}
			r.Rating, r.Ratings = RatingScore(vals)
			if r.Ratings > 0 {
				r.Rank = (wo*good + wr*r.Rating) / (wo + wr)
			}
		}
		out[i] = r
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Rank > out[j].Rank })
	return out, nil
}

// RatingScore combines a trial's judgements into 0..1: the mean of
// (stars−1)/4 over its star ratings, averaged with the Laplace-smoothed win
// rate of its pairwise picks; the int is how many judgements it rests on.
func RatingScore(vals []RatingValue) (float64, int) {
	var stars float64
	var nStars, wins, games int
	for _, v := range vals {
		if v.Stars > 0 {
			stars += clampF((v.Stars-1)/4, 0, 1)
			nStars++
			continue
		}
		games++
		if v.Won {
			wins++
		}
	}
	var parts []float64
	if nStars > 0 {
		parts = append(parts, stars/float64(nStars))
	}
	if games > 0 {
		parts = append(parts, (float64(wins)+1)/(float64(games)+2))
	}
	if len(parts) == 0 {
		return 0, 0
	}
	var s float64
	for _, p := range parts {
		s += p
	}
	return s / float64(len(parts)), nStars + games
}
