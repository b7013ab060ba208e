package kohya

import "testing"

func TestBatchesPerEpoch(t *testing.T) {
	for _, tc := range []struct {
		line string
		want int
		ok   bool
	}{
		{"  num batches per epoch / 1epochのバッチ数: 40", 40, true},
		{"num batches per epoch / 1epochのバッチ数: 0", 0, false},
		{"  num epochs / epoch数: 3", 0, false},
	} {
		n, ok := BatchesPerEpoch(tc.line)
		if n != tc.want || ok != tc.ok {
			t.Errorf("BatchesPerEpoch(%q) = %d, %v; want %d, %v", tc.line, n, ok, tc.want, tc.ok)
		}
	}
}
