package objective

import (
	"fmt"
	"math"
)

// Health flags, as they appear in ImageScore.Flags.
const (
	FlagBlack     = "black"     // (almost) all black: what NaN latents decode to
	FlagBlank     = "blank"     // one flat colour (white, grey, …)
	FlagNoise     = "noise"     // neighbouring pixels are uncorrelated: pure noise
	FlagFried     = "fried"     // over-saturated or over-sharpened
	FlagBlotchy   = "blotchy"   // soft colour blotches, no edges or objects: an untrained or diverged model's output
	FlagDuplicate = "duplicate" // near-identical to a sample of the same prompt with another seed
)

// Thresholds of the health checks, on the work image (values 0..1).
const (
	blackMeanMax    = 0.04
	blackStdMax     = 0.04
	blankStdMax     = 0.02
	noiseCorrMax    = 0.35
	friedSatFracMin = 0.55
	friedHarshMin   = 0.3
	duplicateSimMin = 0.97
)

// Thresholds of the blotchy check (docs/objective.md, health). A broken
// model's VAE decodes a random-looking latent into a smooth random field:
// its gradients are Gaussian (no sparse strong edges), it has no structure
// at the scale of the whole image (its variance averages out over a 4×4 grid
// of blocks) and no preferred edge orientation. A scene has edges, a layout
// or a texture's orientation; even a cloudy sky, which has no edges, has a
// layout.
const (
	// Work images smaller than this on a side are never called blotchy: no
	// SD VAE decodes below 64 px, and 32-px samples are too small to tell.
	blotchMinSide = 64
	// gradGauss (mean |∇| / rms ∇ of the luminance, with and without a
	// light blur) is 0.80 for a Gaussian field and falls as edges
	// concentrate the gradient.
	blotchGaussMin = 0.645
	// coarseFrac is the share of luminance variance left in the means of a
	// 4×4 grid of blocks.
	blotchCoarseMax = 0.44
	// aniso is the strongest of the 2nd and 4th circular moments of the edge
	// orientations: 0 for isotropic blotches, high for bricks or a horizon.
	blotchAnisoMax = 0.31
)

// healthStats are the numbers the health flags are decided from.
type healthStats struct {
	meanLum, stdLum float64
	chanStd         float64 // the largest per-channel standard deviation
	corr            float64 // lag-1 autocorrelation of luminance
	satFrac         float64 // fraction of vivid, fully saturated pixels
	harshFrac       float64 // fraction of pixels with one channel at 1 and another at 0
	// The blotchy check's numbers; all zero for work images under
	// blotchMinSide on a side.
	gradGauss, coarseFrac, aniso float64
}

func computeHealthStats(f *features) healthStats {
	var st healthStats
	n := float64(f.w * f.h)
	var sum, sum2 float64
	var cs, cs2 [3]float64
	var sat, harsh int
	for i := 0; i < f.w*f.h; i++ {
		l := float64(f.lum[i])
		sum += l
		sum2 += l * l
		mx, mn := float32(0), float32(1)
		for c := 0; c < 3; c++ {
			v := f.rgb[3*i+c]
			cs[c] += float64(v)
			cs2[c] += float64(v * v)
			mx = max(mx, v)
			mn = min(mn, v)
		}
		if mx >= 0.98 && mn <= 0.02 {
			harsh++
		}
		if mx >= 0.7 && (mx-mn)/mx >= 0.85 {
			sat++
		}
	}
	st.meanLum = sum / n
	st.stdLum = math.Sqrt(max(0, sum2/n-st.meanLum*st.meanLum))
	for c := 0; c < 3; c++ {
		m := cs[c] / n
		st.chanStd = max(st.chanStd, math.Sqrt(max(0, cs2[c]/n-m*m)))
	}
	st.satFrac = float64(sat) / n
	st.harshFrac = float64(harsh) / n
	st.corr = lagCorrelation(f.lum, f.w, f.h, st.meanLum)
	if min(f.w, f.h) >= blotchMinSide {
		st.gradGauss = gradientGaussianity(f.lum, f.w, f.h)
		st.coarseFrac = coarseFraction(f.lum, f.w, f.h, st.stdLum*st.stdLum)
		st.aniso = edgeAnisotropy(f.edges)
	}
	return st
}

// blotchy reports whether the image is a smooth random colour field.
func (st healthStats) blotchy() bool {
	return st.gradGauss >= blotchGaussMin && st.coarseFrac <= blotchCoarseMax && st.aniso <= blotchAnisoMax
}

// gradientGaussianity is E|d| / sqrt(E d²) over the horizontal and vertical
// differences d of lum: sqrt(2/π) ≈ 0.80 when the differences are Gaussian,
// as in a smooth random field, and lower when a few strong edges carry most
// of the gradient, as in any scene. It is the smaller of the values before
// and after a 3×3 binomial blur: pixel grain makes the differences Gaussian
// before the blur, and the thin soft edges of a small image look less sparse
// after it, but a random field's differences are Gaussian at both scales.
func gradientGaussianity(lum []float32, w, h int) float64 {
	tmp := make([]float32, w*h)
	b := make([]float32, w*h)
	for y := 0; y < h; y++ {
		src, dst := lum[y*w:y*w+w], tmp[y*w:y*w+w]
		dst[0] = 0.75*src[0] + 0.25*src[1]
		for x := 1; x < w-1; x++ {
			dst[x] = 0.25*(src[x-1]+src[x+1]) + 0.5*src[x]
		}
		dst[w-1] = 0.75*src[w-1] + 0.25*src[w-2]
	}
	for y := 0; y < h; y++ {
		up, mid, dn := tmp[max(0, y-1)*w:][:w], tmp[y*w:][:w], tmp[min(h-1, y+1)*w:][:w]
		dst := b[y*w:][:w]
		for x := range dst {
			dst[x] = 0.25*(up[x]+dn[x]) + 0.5*mid[x]
		}
	}
	return min(diffGaussianity(lum, w, h), diffGaussianity(b, w, h))
}

func diffGaussianity(p []float32, w, h int) float64 {
	var sa, s2 float64
	for y := 0; y+1 < h; y++ {
		row, next := p[y*w:][:w], p[(y+1)*w:][:w]
		for x := 0; x+1 < w; x++ {
			dx, dy := float64(row[x+1]-row[x]), float64(next[x]-row[x])
			sa += math.Abs(dx) + math.Abs(dy)
			s2 += dx*dx + dy*dy
		}
	}
	if s2 == 0 {
		return 0
	}
	n := float64(2 * (w - 1) * (h - 1))
	return (sa / n) / math.Sqrt(s2/n)
}

// coarseFraction is the variance of the means of square blocks a quarter of
// the shorter side wide, as a fraction of variance, the variance of lum.
// An image's layout keeps much of its variance at that scale (a cloudy sky
// keeps over half); blotches much smaller than the blocks average out.
func coarseFraction(lum []float32, w, h int, variance float64) float64 {
	bs := min(w, h) / 4
	if bs < 1 || variance <= 0 {
		return 1
	}
	gx, gy := w/bs, h/bs
	var sum, sum2 float64
	for by := 0; by < gy; by++ {
		for bx := 0; bx < gx; bx++ {
			var m float64
			for y := by * bs; y < (by+1)*bs; y++ {
				for _, v := range lum[y*w+bx*bs : y*w+(bx+1)*bs] {
					m += float64(v)
				}
			}
			m /= float64(bs * bs)
			sum += m
			sum2 += m * m
		}
	}
	n := float64(gx * gy)
	return max(0, sum2/n-(sum/n)*(sum/n)) / variance
}

// edgeAnisotropy is the larger of the magnitudes of the 2nd and 4th circular
// moments of the edge-orientation histogram (summed over its cells): the 2nd
// is high when one orientation dominates (a horizon), the 4th when two
// perpendicular ones do (bricks, windows, a grid); both are near 0 for the
// isotropic edges of random blotches.
func edgeAnisotropy(edges []float32) float64 {
	var c2, s2, c4, s4 float64
	for i, v := range edges {
		theta := float64(i%edgeBins) * math.Pi / edgeBins
		c2 += float64(v) * math.Cos(2*theta)
		s2 += float64(v) * math.Sin(2*theta)
		c4 += float64(v) * math.Cos(4*theta)
		s4 += float64(v) * math.Sin(4*theta)
	}
	return max(math.Hypot(c2, s2), math.Hypot(c4, s4))
}

// lagCorrelation is the mean of the horizontal and vertical lag-1
// autocorrelations of lum: near 1 for natural images, near 0 for noise.
func lagCorrelation(lum []float32, w, h int, mean float64) float64 {
	var num, den float64
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			d := float64(lum[y*w+x]) - mean
			den += d * d
			if x+1 < w {
				num += d * (float64(lum[y*w+x+1]) - mean) * 0.5
			}
			if y+1 < h {
				num += d * (float64(lum[(y+1)*w+x]) - mean) * 0.5
			}
		}
	}
	if den == 0 {
		return 1
	}
	return num / den
}

// healthFlags returns the image's own flags (duplicates are decided across
// images, elsewhere).
func healthFlags(f *features) []string {
	st := computeHealthStats(f)
	switch {
	case st.meanLum < blackMeanMax && st.stdLum < blackStdMax:
		return []string{FlagBlack}
	case st.chanStd < blankStdMax:
		return []string{FlagBlank}
	}
	var flags []string
	switch {
	case st.corr < noiseCorrMax:
		flags = append(flags, FlagNoise)
	case st.blotchy():
		flags = append(flags, FlagBlotchy)
	}
	if st.satFrac >= friedSatFracMin || st.harshFrac >= friedHarshMin {
		flags = append(flags, FlagFried)
	}
	return flags
}

// scoreHealth is the fraction of usable samples (range 0..1). A sample is
// unusable when it has a flag; of a group of near-duplicates across seeds of
// one prompt, the first stays usable and the others are flagged.
func scoreHealth(samples []Sample, feats []*features) (float64, []ImageScore) {
	imgs := make([]ImageScore, len(samples))
	for i, s := range samples {
		imgs[i] = ImageScore{Path: s.Path, Flags: healthFlags(feats[i])}
	}
	for i := range samples {
		if len(imgs[i].Flags) > 0 {
			continue
		}
		for j := 0; j < i; j++ {
			if samples[j].PromptIndex != samples[i].PromptIndex || samples[j].Seed == samples[i].Seed || len(imgs[j].Flags) > 0 {
				continue
			}
			if similarity(feats[i], feats[j]) >= duplicateSimMin {
				imgs[i].Flags = append(imgs[i].Flags, FlagDuplicate)
				break
			}
		}
	}
	usable := 0
	for i := range imgs {
		if len(imgs[i].Flags) == 0 {
			imgs[i].Score = 1
			usable++
		}
	}
	return float64(usable) / float64(len(samples)), imgs
}

// scoreDiversity is the mean pixel-space distance (1 − similarity) between
// samples of one prompt with different seeds, averaged over prompts (range
// 0..1). Each image's score is its mean distance to its prompt's others.
func scoreDiversity(samples []Sample, feats []*features) (float64, []ImageScore, error) {
	groups := map[int][]int{}
	var order []int
	for i, s := range samples {
		if _, ok := groups[s.PromptIndex]; !ok {
			order = append(order, s.PromptIndex)
		}
		groups[s.PromptIndex] = append(groups[s.PromptIndex], i)
	}
	var imgs []ImageScore
	var total float64
	var prompts int
	for _, p := range order {
		idx := groups[p]
		if len(idx) < 2 {
			continue
		}
		dist := make([]float64, len(idx))
		cnt := make([]int, len(idx))
		var sum float64
		var pairs int
		for a := 0; a < len(idx); a++ {
			for b := a + 1; b < len(idx); b++ {
				if samples[idx[a]].Seed == samples[idx[b]].Seed {
					continue
				}
				d := 1 - similarity(feats[idx[a]], feats[idx[b]])
				dist[a] += d
				dist[b] += d
				cnt[a]++
				cnt[b]++
				sum += d
				pairs++
			}
		}
		if pairs == 0 {
			continue
		}
		total += sum / float64(pairs)
		prompts++
		for a, i := range idx {
			if cnt[a] > 0 {
				imgs = append(imgs, ImageScore{Path: samples[i].Path, Score: dist[a] / float64(cnt[a])})
			}
		}
	}
	if prompts == 0 {
		return 0, nil, fmt.Errorf("diversity needs at least two seeds of one prompt; this epoch has %d samples of %d prompts", len(samples), len(order))
	}
	return total / float64(prompts), imgs, nil
}
