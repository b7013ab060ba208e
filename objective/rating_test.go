package objective

import (
	"context"
	"errors"
	"testing"
)

// memRatings is a hand-written RatingSource.
type memRatings map[int][]RatingValue

func (m memRatings) Ratings(_ context.Context, trial int) ([]RatingValue, error) {
	if trial < 0 {
		return nil, errors.New("no such trial")
	}
	return m[trial], nil
}

func TestRerank(t *testing.T) {
	trials := []TrialValue{{Number: 1, Value: 0.9}, {Number: 2, Value: 0.8}, {Number: 3, Value: 0.7}}
	ratings := memRatings{
		2: {{Stars: 5}, {Stars: 5}},
		3: {{Opponent: 1, Won: true}, {Opponent: 1, Won: true}},
		1: {{Stars: 1}, {Opponent: 3, Won: false}},
	}
	tests := []struct {
		name    string
		spec    Spec
		src     RatingSource
		order   []int
		ratings []int // Ratings count per trial in order
	}{
		{"no rating scorer: by value", Spec{Scorers: []ScorerSpec{{Kind: KindHealth}}}, ratings, []int{1, 2, 3}, []int{0, 0, 0}},
		{"no source: by value", Spec{Scorers: []ScorerSpec{{Kind: KindHealth}, {Kind: KindRating}}}, nil, []int{1, 2, 3}, []int{0, 0, 0}},
		{"ratings re-rank", Spec{Scorers: []ScorerSpec{{Kind: KindHealth}, {Kind: KindRating}}}, ratings, []int{2, 3, 1}, []int{2, 2, 2}},
		{"light rating weight", Spec{Scorers: []ScorerSpec{{Kind: KindHealth, Weight: 20}, {Kind: KindRating}}}, ratings, []int{1, 2, 3}, []int{2, 2, 2}},
		{"minimize", Spec{Direction: Minimize, Scorers: []ScorerSpec{{Kind: KindHealth}}}, ratings, []int{3, 2, 1}, []int{0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []Option
			if tt.src != nil {
				opts = append(opts, WithRatings(tt.src))
			}
			o, err := New(tt.spec, t.TempDir(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := o.Rerank(context.Background(), trials)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range got {
				if r.Number != tt.order[i] || r.Ratings != tt.ratings[i] {
					t.Fatalf("ranking %+v, want order %v with rating counts %v", got, tt.order, tt.ratings)
				}
				for _, tv := range trials {
					if tv.Number == r.Number && tv.Value != r.Value {
						t.Errorf("trial %d value rewritten: %v, stored %v", r.Number, r.Value, tv.Value)
					}
				}
			}
		})
	}
	t.Run("source error", func(t *testing.T) {
		o, err := New(Spec{Scorers: []ScorerSpec{{Kind: KindHealth}, {Kind: KindRating}}}, t.TempDir(), WithRatings(ratings))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Rerank(context.Background(), []TrialValue{{Number: -1}}); err == nil {
			t.Error("Rerank hid the source's error")
		}
	})
}

func TestSamplingCost(t *testing.T) {
	tests := []struct {
		name                           string
		prompts, seeds, epochs, w, h   int
		steps                          int
		wantImages                     int
		wantEvals                      float64
		trainSteps, batch, trainW, trH int
		warn                           bool
	}{
		{"sd15 light", 4, 1, 5, 512, 512, 30, 20, 1200, 1600, 2, 512, 512, false},
		{"sdxl heavy", 8, 4, 10, 1024, 1024, 30, 320, 76800, 1000, 1, 1024, 1024, true},
		{"defaults", 1, 0, 1, 0, 0, 0, 1, 60, 100, 1, 512, 512, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := SamplingCost(tt.prompts, tt.seeds, tt.epochs, tt.w, tt.h, tt.steps)
			if c.Images != tt.wantImages || c.Evals != tt.wantEvals {
				t.Errorf("cost %+v, want %d images, %v evals", c, tt.wantImages, tt.wantEvals)
			}
			train := TrainingEvals(tt.trainSteps, tt.batch, tt.trainW, tt.trH)
			share := c.Share(train)
			if w := c.Warning(train); (w != "") != tt.warn {
				t.Errorf("share %.2f: warning %q, want warning=%v", share, w, tt.warn)
			}
		})
	}
}
