package kohya

import (
	"math"
	"testing"
)

// Expected values are computed by hand from transformers' formulas
// (KOHYA.md §f); see each case's comment.
func TestScheduleFactor(t *testing.T) {
	tests := []struct {
		name string
		s    Schedule
		step int
		want float64
	}{
		{"constant", Schedule{Name: "constant", Total: 100}, 50, 1},
		{"constant_with_warmup start", Schedule{Name: "constant_with_warmup", Total: 100, Warmup: 10}, 0, 0},
		{"constant_with_warmup mid warmup", Schedule{Name: "constant_with_warmup", Total: 100, Warmup: 10}, 5, 0.5},
		{"constant_with_warmup after", Schedule{Name: "constant_with_warmup", Total: 100, Warmup: 10}, 99, 1},
		{"linear warmup", Schedule{Name: "linear", Total: 100, Warmup: 10}, 5, 0.5},
		{"linear at W", Schedule{Name: "linear", Total: 100, Warmup: 10}, 10, 1},         // 90/90
		{"linear mid", Schedule{Name: "linear", Total: 100, Warmup: 10}, 55, 0.5},        // 45/90
		{"linear end", Schedule{Name: "linear", Total: 100, Warmup: 10}, 100, 0},         // 0/90
		{"linear past end", Schedule{Name: "linear", Total: 100, Warmup: 10}, 120, 0},    // max(0, -20/90)
		{"cosine quarter", Schedule{Name: "cosine", Total: 100}, 25, 0.8535533905932737}, // ½(1+cos(π/4))
		{"cosine mid after warmup", Schedule{Name: "cosine", Total: 100, Warmup: 10}, 55, 0.5},
		{"cosine end", Schedule{Name: "cosine", Total: 100}, 100, 0},
		{"restarts C=2 quarter", Schedule{Name: "cosine_with_restarts", Total: 100, Cycles: 2}, 25, 0.5}, // (2·¼) mod 1 = ½
		{"restarts C=2 restart", Schedule{Name: "cosine_with_restarts", Total: 100, Cycles: 2}, 50, 1},   // (2·½) mod 1 = 0
		{"restarts C=2 0.6", Schedule{Name: "cosine_with_restarts", Total: 100, Cycles: 2}, 60, 0.9045084971874737},
		{"restarts end", Schedule{Name: "cosine_with_restarts", Total: 100, Cycles: 2}, 100, 0},
		{"restarts C=1 is cosine", Schedule{Name: "cosine_with_restarts", Total: 100, Cycles: 1}, 25, 0.8535533905932737},
		{"polynomial p=2 mid", Schedule{Name: "polynomial", Total: 100, Power: 2, LRInit: 1e-3}, 50, 0.250075}, // ((1e-3−1e-7)·¼+1e-7)/1e-3
		{"polynomial p=1 mid", Schedule{Name: "polynomial", Total: 100, Power: 1, LRInit: 1e-3}, 50, 0.50005},  // ((1e-3−1e-7)·½+1e-7)/1e-3
		{"polynomial end", Schedule{Name: "polynomial", Total: 100, Power: 1, LRInit: 1e-3}, 100, 1e-4},        // lr_end/lr_init
		{"polynomial past end", Schedule{Name: "polynomial", Total: 100, Power: 1, LRInit: 1e-3}, 101, 1e-4},
		{"polynomial warmup", Schedule{Name: "polynomial", Total: 100, Warmup: 10, Power: 1, LRInit: 1e-3}, 5, 0.5},
		{"polynomial lr_end", Schedule{Name: "polynomial", Total: 100, Power: 1, LRInit: 1e-3, LREnd: 1e-4}, 50, 0.55}, // (9e-4·½+1e-4)/1e-3
		{"min_lr start", Schedule{Name: "cosine_with_min_lr", Total: 100, Cycles: 1, MinLRRatio: 0.1}, 0, 1},
		{"min_lr mid", Schedule{Name: "cosine_with_min_lr", Total: 100, Cycles: 1, MinLRRatio: 0.1}, 50, 0.55},   // ½·0.9+0.1
		{"min_lr end", Schedule{Name: "cosine_with_min_lr", Total: 100, Cycles: 1, MinLRRatio: 0.1}, 100, 0.1},   // 0·0.9+0.1
		{"min_lr two cycles", Schedule{Name: "cosine_with_min_lr", Total: 100, Cycles: 2, MinLRRatio: 0}, 50, 0}, // cos(π·1·2·½)=−1
		{"adafactor", Schedule{Name: "adafactor", Total: 100}, 3, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.s.Factor(tc.step)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("λ(%d) = %.15g, want %.15g", tc.step, got, tc.want)
			}
		})
	}
}

func TestScheduleErrors(t *testing.T) {
	tests := []struct {
		name string
		s    Schedule
	}{
		{"constant with warmup", Schedule{Name: "constant", Total: 100, Warmup: 5}},
		{"unknown", Schedule{Name: "cosine_annealing", Total: 100}},
		{"polynomial lr_init below lr_end", Schedule{Name: "polynomial", Total: 100, LRInit: 1e-8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.s.Factor(0); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestResolveWarmup(t *testing.T) {
	tests := []struct {
		name    string
		v       any
		want    int
		wantErr bool
	}{
		{"nil", nil, 0, false},
		{"int steps", int64(10), 10, false},
		{"ratio", 0.1, 32, false}, // ⌊0.1·320⌋
		{"float ≥ 1 is still a ratio", 100.0, 32000, false},
		{"ratio floors", 0.33, 105, false}, // ⌊105.6⌋
		{"percent string", "10%", 32, false},
		{"ratio string", "0.05", 16, false},
		{"int string", "20", 20, false},
		{"float string ≥ 1", "1.5", 0, true},
		{"negative", int64(-1), 0, true},
		{"bool", true, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveWarmup(tc.v, 320)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}
