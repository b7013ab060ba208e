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

// healthStats are the numbers the health flags are decided from.
type healthStats struct {
	meanLum, stdLum float64
	chanStd         float64 // the largest per-channel standard deviation
	corr            float64 // lag-1 autocorrelation of luminance
	satFrac         float64 // fraction of vivid, fully saturated pixels
	harshFrac       float64 // fraction of pixels with one channel at 1 and another at 0
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
	return st
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
	if st.corr < noiseCorrMax {
		flags = append(flags, FlagNoise)
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
