package objective

import (
	"image"
	"image/color"
	"testing"

	xdraw "golang.org/x/image/draw"
)

func resized(src image.Image, w, h int) image.Image {
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), xdraw.Src, nil)
	return dst
}

func TestSimilarityInvariancesAndSensitivity(t *testing.T) {
	orig := computeFeatures(scene(512, 512, 0, 0, 0))
	// The similarity a different subject on the same background gets: every
	// transformed copy of the original must beat it clearly.
	other := similarity(orig, computeFeatures(scene(512, 512, 1, 0, 0)))
	other2 := similarity(orig, computeFeatures(scene(512, 512, 2, 0, 0)))
	t.Logf("different subject: %.3f, %.3f", other, other2)
	if other > 0.6 || other2 > 0.6 {
		t.Errorf("different subjects too similar: %.3f, %.3f", other, other2)
	}
	worst := max(other, other2)
	tests := []struct {
		name string
		img  image.Image
		min  float64
	}{
		{"identical", scene(512, 512, 0, 0, 0), 0.99},
		{"downscaled to 256", resized(scene(512, 512, 0, 0, 0), 256, 256), 0.95},
		{"upscaled to 1024", resized(scene(512, 512, 0, 0, 0), 1024, 1024), 0.95},
		{"rendered at 384", scene(384, 384, 0, 0, 0), 0.95},
		{"shifted 8px right", scene(512, 512, 0, 8, 0), 0.85},
		{"shifted 10px diagonally", scene(512, 512, 0, 10, -10), 0.85},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := similarity(orig, computeFeatures(tt.img))
			t.Logf("similarity %.3f", got)
			if got < tt.min {
				t.Errorf("similarity %.3f < %.2f", got, tt.min)
			}
			if got < worst+0.15 {
				t.Errorf("similarity %.3f not clearly above a different subject's %.3f", got, worst)
			}
		})
	}
}

func TestHealthFlags(t *testing.T) {
	tests := []struct {
		name string
		img  image.Image
		want string // "" = usable
	}{
		{"normal scene", scene(512, 512, 0, 0, 0), ""},
		{"normal other scene", scene(256, 384, 1, 0, 0), ""},
		{"normal small scene", scene(32, 32, 2, 0, 0), ""},
		{"black", uniform(512, 512, color.NRGBA{0, 0, 0, 255}), FlagBlack},
		{"nearly black", uniform(512, 512, color.NRGBA{3, 2, 4, 255}), FlagBlack},
		{"white", uniform(512, 512, color.NRGBA{255, 255, 255, 255}), FlagBlank},
		{"uniform grey", uniform(300, 200, color.NRGBA{128, 128, 128, 255}), FlagBlank},
		{"noise", noise(512, 512, 1), FlagNoise},
		{"small noise", noise(48, 48, 2), FlagNoise},
		{"fried scene", fried(scene(512, 512, 0, 0, 0)), FlagFried},
		{"fried other scene", fried(scene(512, 512, 1, 0, 0)), FlagFried},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := computeFeatures(tt.img)
			flags := healthFlags(f)
			t.Logf("flags %v stats %+v edge %.3f", flags, computeHealthStats(f), f.edgeEnergy)
			switch {
			case tt.want == "" && len(flags) > 0:
				t.Errorf("flags %v, want none", flags)
			case tt.want != "" && (len(flags) == 0 || flags[0] != tt.want):
				t.Errorf("flags %v, want %s first", flags, tt.want)
			}
		})
	}
}

func TestHealthDuplicatesAcrossSeeds(t *testing.T) {
	dir := t.TempDir()
	paths := []string{
		writePNG(t, dir+"/a.png", scene(128, 128, 0, 0, 0)),
		writePNG(t, dir+"/b.png", scene(128, 128, 0, 0, 0)), // collapse: seed 2 gives seed 1's image
		writePNG(t, dir+"/c.png", scene(128, 128, 1, 0, 0)),
		writePNG(t, dir+"/d.png", scene(128, 128, 0, 0, 0)), // other prompt: not a duplicate
	}
	samples := []Sample{{Path: paths[0], Seed: 1}, {Path: paths[1], Seed: 2}, {Path: paths[2], Seed: 3}, {Path: paths[3], PromptIndex: 1, Seed: 1}}
	feats := make([]*features, len(paths))
	for i, p := range paths {
		var err error
		if feats[i], err = loadFeatures(p); err != nil {
			t.Fatal(err)
		}
	}
	got, imgs := scoreHealth(samples, feats)
	if got != 0.75 {
		t.Errorf("health %.3f, want 0.75 (one duplicate of four)", got)
	}
	if len(imgs[1].Flags) != 1 || imgs[1].Flags[0] != FlagDuplicate {
		t.Errorf("sample b flags %v, want [duplicate]", imgs[1].Flags)
	}
	for _, i := range []int{0, 2, 3} {
		if len(imgs[i].Flags) > 0 {
			t.Errorf("sample %d flags %v, want none", i, imgs[i].Flags)
		}
	}
}
