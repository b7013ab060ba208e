package objective

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// scene renders a crafted "photo": a vertical sky-to-ground gradient with a
// subject. Subject 0 is an orange disc with dark stripes, subject 1 a blue
// upright rectangle with a yellow window, subject 2 a green triangle. dx, dy
// shift the subject in pixels.
func scene(w, h, subject, dx, dy int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		fy := float64(y) / float64(h)
		for x := 0; x < w; x++ {
			fx := float64(x-dx) / float64(w)
			gy := float64(y-dy) / float64(h)
			r, g, b := 0.55+0.3*fy, 0.7-0.2*fy, 0.95-0.5*fy
			switch subject {
			case 0:
				d := math.Hypot(fx-0.45, gy-0.5)
				if d < 0.28 {
					r, g, b = 0.95, 0.55, 0.15
					if int((fx+gy)*20)%3 == 0 {
						r, g, b = 0.35, 0.15, 0.05
					}
				}
			case 1:
				if fx > 0.55 && fx < 0.85 && gy > 0.15 && gy < 0.9 {
					r, g, b = 0.1, 0.2, 0.7
					if fx > 0.63 && fx < 0.77 && gy > 0.3 && gy < 0.45 {
						r, g, b = 0.95, 0.9, 0.3
					}
				}
			case 2:
				if gy > 0.2 && gy < 0.85 && math.Abs(fx-0.3) < (gy-0.2)*0.5 {
					r, g, b = 0.1, 0.6, 0.2
				}
			}
			img.Set(x, y, color.NRGBA{u8(r), u8(g), u8(b), 255})
		}
	}
	return img
}

func u8(v float64) uint8 { return uint8(clampF(v, 0, 1)*255 + 0.5) }

func uniform(w, h int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		copy(img.Pix[4*i:], []uint8{c.R, c.G, c.B, c.A})
	}
	return img
}

func noise(w, h int, seed uint64) *image.NRGBA {
	rng := rand.New(rand.NewPCG(seed, 1))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		copy(img.Pix[4*i:], []uint8{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255})
	}
	return img
}

// fried pushes saturation and contrast to the limit, as an over-trained
// LoRA or a far too high CFG scale does.
func fried(src *image.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(src.Bounds())
	for i := 0; i < len(src.Pix); i += 4 {
		m := (float64(src.Pix[i]) + float64(src.Pix[i+1]) + float64(src.Pix[i+2])) / 3 / 255
		for c := 0; c < 3; c++ {
			v := float64(src.Pix[i+c]) / 255
			v = m + (v-m)*4
			img.Pix[i+c] = u8((v-0.5)*3 + 0.5)
		}
		img.Pix[i+3] = 255
	}
	return img
}

func writePNG(t testing.TB, path string, img image.Image) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	return path
}
