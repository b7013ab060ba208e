package kohya

import "testing"

func TestNearest(t *testing.T) {
	names := ArgNames()
	tests := []struct {
		name       string
		in         string
		candidates []string
		want       string
		wantOK     bool
	}{
		{"transposition costs one", "netwrok_dim", names, "network_dim", true},
		{"exact match", "network_alpha", names, "network_alpha", true},
		{"case-insensitive", "Learning_Rate", names, "learning_rate", true},
		{"missing letter", "lr_schedulr", names, "lr_scheduler", true},
		{"dash instead of underscore", "max-train-epochs", names, "max_train_epochs", true},
		{"too far", "banana", names, "", false},
		{"empty name", "", names, "", false},
		{"no candidates", "network_dim", nil, "", false},
		{"long name allows len/4", "lr_schedular_num_cycle", names, "lr_scheduler_num_cycles", true},
		{"tie goes to the lexically smallest", "cat", []string{"cut", "bat", "cot"}, "bat", true},
		{"tie independent of order", "cat", []string{"cot", "cut", "bat"}, "bat", true},
		{"closer beats earlier", "adamw", []string{"adam", "AdamW"}, "AdamW", true},
		{"short name limit is two", "ab", []string{"xyz"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Nearest(tt.in, tt.candidates)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Nearest(%q) = %q, %t; want %q, %t", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestDamerauLevenshtein(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"equal", "abc", "abc", 0},
		{"substitution", "abc", "abd", 1},
		{"insertion", "abc", "abxc", 1},
		{"deletion", "abc", "ac", 1},
		{"transposition", "abcd", "abdc", 1},
		{"empty", "", "abc", 3},
		{"kitten", "kitten", "sitting", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := damerauLevenshtein([]rune(tt.a), []rune(tt.b), 100); got != tt.want {
				t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func BenchmarkNearestArgNames(b *testing.B) {
	names := ArgNames()
	for b.Loop() {
		Nearest("lr_schedular_num_cycle", names)
	}
}
