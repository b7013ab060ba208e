package objective

import "testing"

// BenchmarkHealthFlags is health's own per-image cost on precomputed
// features of a 512² sample (a 128² work image): every flag's statistics.
func BenchmarkHealthFlags(b *testing.B) {
	f := computeFeatures(photoScene(512, sceneOutdoor, 1))
	for b.Loop() {
		healthFlags(f)
	}
}

// BenchmarkGradientGaussianity is the blotchy check's costliest part.
func BenchmarkGradientGaussianity(b *testing.B) {
	f := computeFeatures(photoScene(512, sceneOutdoor, 1))
	for b.Loop() {
		gradientGaussianity(f.lum, f.w, f.h)
	}
}
