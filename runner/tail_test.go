package runner

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTailLine(t *testing.T) {
	cases := []struct {
		name, in string
		maxLen   int
	}{
		{"plain", "epoch 1/3", 9},
		{"enormous", strings.Repeat("x", 3<<20), maxTailLine + 16},
		{"binary", "\xff\xfe\x00ok\x80", 32},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := tailLine(c.in)
			if len(got) > c.maxLen {
				t.Errorf("len %d > %d", len(got), c.maxLen)
			}
			if !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
				t.Errorf("%q is not storable text", got)
			}
		})
	}
}
