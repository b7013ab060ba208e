package objective

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkScoreImage measures the cost of scoring one sample: decoding the
// PNG, computing its features, health, and a paired reference comparison
// (one ScoreEpoch with a single sample).
func BenchmarkScoreImage(b *testing.B) {
	for _, size := range []int{512, 1024} {
		b.Run(fmt.Sprintf("%dx%d", size, size), func(b *testing.B) {
			dir := b.TempDir()
			writePNG(b, filepath.Join(dir, "refs", "0.png"), scene(size, size, 0, 0, 0))
			path := writePNG(b, filepath.Join(dir, "s.png"), scene(size, size, 0, 5, 5))
			o, err := New(Spec{Scorers: []ScorerSpec{{Kind: KindHealth}, {Kind: KindReference, References: "refs"}}}, dir)
			if err != nil {
				b.Fatal(err)
			}
			in := EpochInput{Samples: []Sample{{Path: path}}}
			if _, err := o.ScoreEpoch(context.Background(), in); err != nil { // loads the reference
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				res, err := o.ScoreEpoch(context.Background(), in)
				if err != nil || res.Unscorable {
					b.Fatal(err, res.Reason)
				}
			}
		})
	}
}

// BenchmarkSimilarity is one image-to-image comparison on precomputed
// features: the per-pair cost of set mode, diversity and duplicate checks.
func BenchmarkSimilarity(b *testing.B) {
	x, y := computeFeatures(scene(512, 512, 0, 0, 0)), computeFeatures(scene(512, 512, 1, 0, 0))
	for i := 0; i < b.N; i++ {
		similarity(x, y)
	}
}

// BenchmarkFeatures separates decoding from feature computation.
func BenchmarkFeatures(b *testing.B) {
	for _, size := range []int{512, 1024} {
		img := scene(size, size, 0, 0, 0)
		b.Run(fmt.Sprintf("%dx%d", size, size), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				computeFeatures(img)
			}
		})
	}
}
