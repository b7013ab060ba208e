package objective

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lorasweep/lorasweep/kohya"
	"github.com/lorasweep/lorasweep/runner/builtin"
)

// healthCase is one image of the health corpus: generated here, or a file
// the built-in trainer wrote.
type healthCase struct {
	name string
	img  image.Image
	path string
}

func (c healthCase) features(t testing.TB) *features {
	t.Helper()
	if c.img != nil {
		return computeFeatures(c.img)
	}
	f, err := loadFeatures(c.path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// corpusSizes are the image sides of the generated corpus; -short leaves
// out the costliest.
func corpusSizes(short bool) []int {
	if short {
		return []int{64, 128, 512}
	}
	return []int{64, 128, 256, 512, 1024}
}

// brokenCorpus is what broken models decode to. Blotch fields: blotches 3
// to 48 px wide with at least 8 across the image, upsampled bilinearly or
// bicubically, with independent, mixed or nearly grey colour, some with
// grain. Random decoders: a 4-channel latent at size/8 through a random
// 4×3 map or 3×3 convolution, upsampled ×8, at three saturation gains, from
// 128² (a 16×16 latent) up; at 64² see smallDecoderCorpus.
func brokenCorpus(short bool) []healthCase {
	var cs []healthCase
	for _, size := range corpusSizes(short) {
		for _, bw := range []int{3, 4, 6, 8, 12, 16, 24, 32, 48} {
			cells := size / bw
			if cells < 8 || short && bw%4 != 0 {
				continue
			}
			for mix := 0; mix < 3; mix++ {
				cs = append(cs, healthCase{name: fmt.Sprintf("blotches %d² %dpx mix%d", size, bw, mix),
					img: blotchField(size, cells, mix != 1, mix, 0.01*float64(mix), uint64(size*bw+mix))})
			}
		}
		if size < 128 {
			continue
		}
		for _, k := range []int{1, 3} {
			for _, gain := range []float64{0.7, 1.5, 3} {
				for seed := 0; seed < 3; seed++ {
					if short && seed > 0 {
						continue
					}
					cs = append(cs, healthCase{name: fmt.Sprintf("decoder %d² k%d gain %.1f seed %d", size, k, gain, seed),
						img: randomDecoder(size, k, seed == 1, gain, uint64(size+k+100*seed))})
				}
			}
		}
	}
	return cs
}

// smallDecoderCorpus are random decoders at 64²: an 8×8 latent makes
// blotches an eighth of the image wide, which these statistics cannot tell
// from a cloudy sky reliably. Their detection rate is measured, not asserted.
func smallDecoderCorpus() []healthCase {
	var cs []healthCase
	for _, k := range []int{1, 3} {
		for _, gain := range []float64{0.7, 1.5, 3} {
			for seed := 0; seed < 3; seed++ {
				cs = append(cs, healthCase{name: fmt.Sprintf("decoder 64² k%d gain %.1f seed %d", k, gain, seed),
					img: randomDecoder(64, k, seed == 1, gain, uint64(64+k+100*seed))})
			}
		}
	}
	return cs
}

// healthyCorpus: photo-like scenes of every kind at every size, the same
// with heavy grain, and the built-in demo's own images (training images,
// references and samples of several training regimes at 32² to 256²).
func healthyCorpus(t *testing.T, short bool) []healthCase {
	var cs []healthCase
	for _, size := range corpusSizes(short) {
		for kind := 0; kind < numSceneKinds; kind++ {
			for seed := 0; seed < 2; seed++ {
				if short && seed > 0 {
					continue
				}
				img := photoScene(size, kind, uint64(100*kind+seed+size))
				cs = append(cs, healthCase{name: fmt.Sprintf("scene %d² kind %d seed %d", size, kind, seed), img: img})
				if size <= 256 {
					cs = append(cs, healthCase{name: fmt.Sprintf("grainy scene %d² kind %d seed %d", size, kind, seed), img: withGrain(img, 0.03, uint64(seed))})
				}
			}
		}
	}
	regimes := [][]string{
		{"--learning_rate", "1e-3", "--max_train_epochs", "8"},
		{"--learning_rate", "1e-5", "--max_train_epochs", "2", "--sample_every_n_epochs", "1"},
		{"--learning_rate", "1e-3", "--max_train_epochs", "40", "--sample_every_n_epochs", "20", "--lr_scheduler", "constant"},
		{"--learning_rate", "0.05", "--max_train_epochs", "4", "--sample_every_n_epochs", "1"},
		{"--learning_rate", "0.3", "--max_train_epochs", "4", "--sample_every_n_epochs", "1"},
	}
	sizes := []int{32, 64, 128, 256}
	if short {
		regimes, sizes = regimes[:1], []int{32, 128}
	}
	for _, p := range demoImages(t, sizes, regimes) {
		rel := p
		if i := strings.Index(p, "regime"); i >= 0 {
			rel = p[i:]
		}
		cs = append(cs, healthCase{name: "demo " + rel, path: p})
	}
	return cs
}

// demoImages trains the built-in trainer on its demo dataset once per
// regime, sampling every demo prompt at each of sizes, and returns the
// sample files with the dataset's training images and references.
func demoImages(t *testing.T, sizes []int, regimes [][]string) []string {
	t.Helper()
	demo := t.TempDir()
	if err := builtin.InitDemo(demo, builtin.DemoOptions{}); err != nil {
		t.Fatal(err)
	}
	prompts, err := kohya.ParsePromptFile(filepath.Join(demo, "prompts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var txt strings.Builder
	for _, s := range sizes {
		for _, p := range prompts {
			p.Width, p.Height = s, s
			txt.WriteString(kohya.FormatPromptLine(p) + "\n")
		}
	}
	pf := filepath.Join(demo, "sized_prompts.txt")
	if err := os.WriteFile(pf, []byte(txt.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(demo, "train", "*", "*.png"))
	refs, _ := filepath.Glob(filepath.Join(demo, "references", "*.png"))
	files = append(files, refs...)
	for i, r := range regimes {
		out := filepath.Join(demo, fmt.Sprintf("regime%d", i), "out")
		args := append([]string{"--config_file", filepath.Join(demo, "base.toml"), "--output_dir", out, "--output_name", "demo", "--sample_prompts", pf}, r...)
		var stdout, stderr bytes.Buffer
		if code := builtin.Main(args, &stdout, &stderr); code != 0 {
			t.Fatalf("builtin trainer %v exited %d:\n%s", r, code, stderr.String())
		}
		samples, _ := filepath.Glob(filepath.Join(out, "sample", "*.png"))
		if len(samples) == 0 {
			t.Fatalf("builtin trainer %v wrote no samples", r)
		}
		files = append(files, samples...)
	}
	return files
}

// blotchMargin is how far st lies inside the blotchy region (> 0: flagged):
// the smallest of its three numbers' distances to their thresholds.
func blotchMargin(st healthStats) float64 {
	return min(st.gradGauss-blotchGaussMin, blotchCoarseMax-st.coarseFrac, blotchAnisoMax-st.aniso)
}

// minBlotchMargin is how clearly the corpus must sit on its side of the
// blotchy boundary: healthy images at least this far outside it, broken ones
// that only the blotchy check catches at least this far inside.
const minBlotchMargin = 0.01

// TestHealthFlagsBrokenModelOutput is the separation table: every image of
// the broken corpus is flagged (blotchy, or noise/fried where those catch it
// first), no healthy image is flagged at all, so each broken image's health
// score (0) is below each healthy one's (1).
func TestHealthFlagsBrokenModelOutput(t *testing.T) {
	short := testing.Short() || raceEnabled
	broken, healthy := brokenCorpus(short), healthyCorpus(t, short)
	byFlag := map[string]int{}
	worstBroken, worstHealthy := 1.0, -1.0
	var worstBrokenName, worstHealthyName string
	for _, c := range broken {
		f := c.features(t)
		flags, st := healthFlags(f), computeHealthStats(f)
		if len(flags) == 0 {
			t.Errorf("broken %s: not flagged (gradGauss %.3f coarse %.3f aniso %.3f corr %.3f)", c.name, st.gradGauss, st.coarseFrac, st.aniso, st.corr)
			continue
		}
		byFlag[strings.Fields(c.name)[0]+" "+flags[0]]++
		if len(flags) == 1 && flags[0] == FlagBlotchy && blotchMargin(st) < minBlotchMargin {
			t.Errorf("broken %s: only %.3f inside the blotchy boundary", c.name, blotchMargin(st))
		}
		if len(flags) == 1 && flags[0] == FlagBlotchy && blotchMargin(st) < worstBroken {
			worstBroken, worstBrokenName = blotchMargin(st), c.name
		}
	}
	demo, checked, flagged := 0, 0, 0
	for _, c := range healthy {
		f := c.features(t)
		flags, st := healthFlags(f), computeHealthStats(f)
		if len(flags) > 0 {
			flagged++
			t.Errorf("healthy %s: flagged %v (gradGauss %.3f coarse %.3f aniso %.3f corr %.3f)", c.name, flags, st.gradGauss, st.coarseFrac, st.aniso, st.corr)
		}
		if c.path != "" {
			demo++
		}
		if min(f.w, f.h) >= blotchMinSide {
			checked++
		}
		if min(f.w, f.h) >= blotchMinSide && blotchMargin(st) > -minBlotchMargin {
			t.Errorf("healthy %s: only %.3f outside the blotchy boundary", c.name, -blotchMargin(st))
		}
		if min(f.w, f.h) >= blotchMinSide && blotchMargin(st) > worstHealthy {
			worstHealthy, worstHealthyName = blotchMargin(st), c.name
		}
	}
	// HEALTH_DUMP=1 logs each image's numbers, for retuning the thresholds.
	if os.Getenv("HEALTH_DUMP") != "" {
		for _, c := range slices.Concat(broken, healthy) {
			f := c.features(t)
			st := computeHealthStats(f)
			if min(f.w, f.h) >= blotchMinSide {
				t.Logf("%-60s %dx%d gradGauss %.3f coarse %.3f aniso %.3f margin %.3f %v", c.name, f.w, f.h, st.gradGauss, st.coarseFrac, st.aniso, blotchMargin(st), healthFlags(f))
			}
		}
	}
	t.Logf("broken: %d images, first flags %v", len(broken), byFlag)
	t.Logf("healthy: %d images (%d from the demo trainer; %d at least %d px, where the blotchy check applies), %d flagged", len(healthy), demo, checked, blotchMinSide, flagged)
	t.Logf("closest to the blotchy boundary: broken (flagged blotchy only) %s (margin %.3f), healthy %s (margin %.3f)", worstBrokenName, worstBroken, worstHealthyName, worstHealthy)
	small := 0
	for _, c := range smallDecoderCorpus() {
		if len(healthFlags(c.features(t))) > 0 {
			small++
		}
	}
	t.Logf("64² random decoders (8×8 latent, not asserted): %d of %d flagged", small, len(smallDecoderCorpus()))
}

// TestHealthScoresBrokenEpochBelowHealthy runs the health scorer end to end
// on PNG files: an epoch of broken-model samples scores 0 with every image
// flagged blotchy, the same prompts drawn healthily score 1.
func TestHealthScoresBrokenEpochBelowHealthy(t *testing.T) {
	dir := t.TempDir()
	o, err := New(Spec{Scorers: []ScorerSpec{{Kind: KindHealth}}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	epoch := func(name string, render func(i int) image.Image) Result {
		t.Helper()
		in := EpochInput{Epoch: 1}
		for i := 0; i < 4; i++ {
			p := writePNG(t, filepath.Join(dir, name, fmt.Sprintf("%d.png", i)), render(i))
			in.Samples = append(in.Samples, Sample{Path: p, PromptIndex: i / 2, Seed: int64(i)})
		}
		res, err := o.ScoreEpoch(context.Background(), in)
		if err != nil || res.Unscorable {
			t.Fatalf("%s: %v %s", name, err, res.Reason)
		}
		return res
	}
	broken := epoch("broken", func(i int) image.Image { return randomDecoder(512, 1+2*(i%2), i%2 == 0, 1, uint64(i)) })
	healthy := epoch("healthy", func(i int) image.Image {
		return photoScene(512, []int{sceneOutdoor, sceneIndoor, sceneStudio, sceneHills}[i], uint64(i))
	})
	if broken.Value != 0 || healthy.Value != 1 {
		t.Errorf("health: broken epoch %.3f, healthy epoch %.3f; want 0 and 1", broken.Value, healthy.Value)
	}
	for _, im := range broken.Components[0].Images {
		if !slices.Contains(im.Flags, FlagBlotchy) {
			t.Errorf("broken %s: flags %v, want %s", im.Path, im.Flags, FlagBlotchy)
		}
	}
}
