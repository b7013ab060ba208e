package objective

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// Sizes of the working images every feature is computed from. The work image
// keeps the aspect ratio and is never upscaled (upscaling would smooth pixel
// noise into something that looks like structure); the similarity image is a
// fixed square so images of different sizes compare.
const (
	workMax = 128
	simSize = 48
)

// features is what the built-in scorers know of one image. Everything is
// computed from downscaled copies, so a 1024² sample costs little more than
// its decoding.
type features struct {
	w, h int
	// rgb holds the work image, 3 floats (0..1) per pixel, row-major.
	rgb []float32
	lum []float32
	// sim is the luminance at simSize×simSize, for SSIM.
	sim []float32
	// hist is a soft CIELAB histogram summing to 1.
	hist []float32
	// edges is a magnitude-weighted edge-orientation histogram over 2×2
	// spatial cells, summing to 1 (all zero when the image has no edges).
	edges      []float32
	edgeEnergy float64 // mean gradient magnitude per pixel
}

// loadFeatures decodes the image at path and computes its features.
func loadFeatures(path string) (*features, error) {
	img, err := decodeImage(path)
	if err != nil {
		return nil, err
	}
	return computeFeatures(img), nil
}

// decodeImage decodes PNG, JPEG or WebP by content, not by extension, and
// without relying on image.RegisterFormat side effects.
func decodeImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open image: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	head, _ := br.Peek(12)
	var img image.Image
	switch {
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		img, err = png.Decode(br)
	case bytes.HasPrefix(head, []byte{0xff, 0xd8}):
		img, err = jpeg.Decode(br)
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		img, err = webp.Decode(br)
	default:
		_, _ = io.Copy(io.Discard, br)
		return nil, fmt.Errorf("decode image %s: not a PNG, JPEG or WebP file", path)
	}
	if err != nil {
		return nil, fmt.Errorf("decode image %s: %w", path, err)
	}
	if b := img.Bounds(); b.Dx() < 1 || b.Dy() < 1 {
		return nil, fmt.Errorf("decode image %s: empty image", path)
	}
	return img, nil
}

// computeFeatures builds the features of img.
func computeFeatures(img image.Image) *features {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w > workMax || h > workMax {
		if w >= h {
			h = max(1, int(math.Round(float64(h)*workMax/float64(w))))
			w = workMax
		} else {
			w = max(1, int(math.Round(float64(w)*workMax/float64(h))))
			h = workMax
		}
	}
	work := image.NewRGBA(image.Rect(0, 0, w, h))
	if w == b.Dx() && h == b.Dy() {
		draw.Draw(work, work.Bounds(), img, b.Min, draw.Src)
	} else {
		// BiLinear widens its kernel when shrinking, so the downscale
		// averages instead of aliasing.
		xdraw.BiLinear.Scale(work, work.Bounds(), img, b, xdraw.Src, nil)
	}
	f := &features{w: w, h: h, rgb: make([]float32, 3*w*h), lum: make([]float32, w*h)}
	for i := 0; i < w*h; i++ {
		r := float32(work.Pix[4*i]) / 255
		g := float32(work.Pix[4*i+1]) / 255
		bl := float32(work.Pix[4*i+2]) / 255
		f.rgb[3*i], f.rgb[3*i+1], f.rgb[3*i+2] = r, g, bl
		f.lum[i] = 0.299*r + 0.587*g + 0.114*bl
	}
	sim := image.NewRGBA(image.Rect(0, 0, simSize, simSize))
	xdraw.BiLinear.Scale(sim, sim.Bounds(), work, work.Bounds(), xdraw.Src, nil)
	f.sim = make([]float32, simSize*simSize)
	for i := range f.sim {
		f.sim[i] = (0.299*float32(sim.Pix[4*i]) + 0.587*float32(sim.Pix[4*i+1]) + 0.114*float32(sim.Pix[4*i+2])) / 255
	}
	f.hist = labHistogram(f.rgb)
	f.edges, f.edgeEnergy = edgeHistogram(f.lum, w, h)
	return f
}

// Lab histogram bins: L over 0..100, a and b over -80..80 (clamped).
const (
	histL  = 4
	histAB = 6
)

// labHistogram is a soft (trilinear) histogram in CIELAB, a colour space in
// which distances roughly follow perceived differences, so a slight colour
// shift moves mass to a neighbouring bin gradually instead of all at once.
func labHistogram(rgb []float32) []float32 {
	hist := make([]float32, histL*histAB*histAB)
	// The work image holds 8-bit values, so linearisation is a 256-entry
	// table instead of three math.Pow calls per pixel.
	var lin [256]float64
	for i := range lin {
		lin[i] = srgbLinear(float64(i) / 255)
	}
	n := len(rgb) / 3
	for i := 0; i < n; i++ {
		l, a, bb := linearToLab(lin[int(rgb[3*i]*255+0.5)], lin[int(rgb[3*i+1]*255+0.5)], lin[int(rgb[3*i+2]*255+0.5)])
		fl := clampF(l/100*(histL-1), 0, histL-1)
		fa := clampF((a+80)/160*(histAB-1), 0, histAB-1)
		fb := clampF((bb+80)/160*(histAB-1), 0, histAB-1)
		l0, a0, b0 := int(fl), int(fa), int(fb)
		dl, da, db := fl-float64(l0), fa-float64(a0), fb-float64(b0)
		for _, cl := range [2]struct {
			i int
			w float64
		}{{l0, 1 - dl}, {min(l0+1, histL-1), dl}} {
			for _, ca := range [2]struct {
				i int
				w float64
			}{{a0, 1 - da}, {min(a0+1, histAB-1), da}} {
				for _, cb := range [2]struct {
					i int
					w float64
				}{{b0, 1 - db}, {min(b0+1, histAB-1), db}} {
					hist[(cl.i*histAB+ca.i)*histAB+cb.i] += float32(cl.w * ca.w * cb.w)
				}
			}
		}
	}
	for i := range hist {
		hist[i] /= float32(n)
	}
	return hist
}

func srgbLinear(v float64) float64 {
	if v <= 0.04045 {
		return v / 12.92
	}
	return math.Pow((v+0.055)/1.055, 2.4)
}

// linearToLab converts linear RGB (D65) to CIELAB.
func linearToLab(R, G, B float64) (l, a, bb float64) {
	x := (0.4124*R + 0.3576*G + 0.1805*B) / 0.95047
	y := 0.2126*R + 0.7152*G + 0.0722*B
	z := (0.0193*R + 0.1192*G + 0.9505*B) / 1.08883
	fx, fy, fz := labF(x), labF(y), labF(z)
	return 116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)
}

func labF(t float64) float64 {
	if t > 216.0/24389 {
		return math.Cbrt(t)
	}
	return t*24389/27/116 + 16.0/116
}

const edgeBins = 8

// edgeHistogram is a histogram of Sobel gradient orientations (unsigned,
// 0..π) weighted by magnitude in 2×2 spatial cells: it describes the shapes
// in an image independently of its colours and its exact size.
func edgeHistogram(lum []float32, w, h int) ([]float32, float64) {
	hist := make([]float32, 4*edgeBins)
	if w < 3 || h < 3 {
		return hist, 0
	}
	var total float64
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			p := func(dx, dy int) float64 { return float64(lum[(y+dy)*w+x+dx]) }
			gx := (p(1, -1) + 2*p(1, 0) + p(1, 1)) - (p(-1, -1) + 2*p(-1, 0) + p(-1, 1))
			gy := (p(-1, 1) + 2*p(0, 1) + p(1, 1)) - (p(-1, -1) + 2*p(0, -1) + p(1, -1))
			m := math.Hypot(gx, gy)
			if m < 1e-3 {
				continue
			}
			total += m
			theta := math.Atan2(gy, gx)
			if theta < 0 {
				theta += math.Pi
			}
			fb := theta / math.Pi * edgeBins
			b0 := int(fb) % edgeBins
			d := fb - math.Floor(fb)
			cell := 0
			if x >= w/2 {
				cell++
			}
			if y >= h/2 {
				cell += 2
			}
			hist[cell*edgeBins+b0] += float32(m * (1 - d))
			hist[cell*edgeBins+(b0+1)%edgeBins] += float32(m * d)
		}
	}
	if total > 0 {
		for i := range hist {
			hist[i] /= float32(total)
		}
	}
	return hist, total / float64((w-2)*(h-2))
}

// ssimMaxShift is how far (in pixels of the simSize² image, so about 4% of
// the image side) ssim searches for the best alignment: a subject a few
// pixels off is the same subject.
const ssimMaxShift = 2

// ssim is the mean structural similarity of two simSize² luminance images
// over 8×8 windows with stride 4, in -1..1, at the best of the offsets up to
// ssimMaxShift pixels in each direction.
func ssim(a, b []float32) float64 {
	best := -1.0
	for dy := -ssimMaxShift; dy <= ssimMaxShift; dy++ {
		for dx := -ssimMaxShift; dx <= ssimMaxShift; dx++ {
			best = max(best, ssimAt(a, b, dx, dy))
		}
	}
	return best
}

// ssimAt compares a with b shifted by (dx, dy) over the windows that stay
// inside both for every offset.
func ssimAt(a, b []float32, dx, dy int) float64 {
	const win, stride = 8, 4
	const c1, c2 = 0.01 * 0.01, 0.03 * 0.03
	const cnt = win * win
	var sum float64
	var n int
	for y0 := ssimMaxShift; y0+win <= simSize-ssimMaxShift; y0 += stride {
		for x0 := ssimMaxShift; x0+win <= simSize-ssimMaxShift; x0 += stride {
			var sa, sb, saa, sbb, sab float64
			for y := y0; y < y0+win; y++ {
				ra := a[y*simSize+x0 : y*simSize+x0+win]
				rb := b[(y+dy)*simSize+x0+dx : (y+dy)*simSize+x0+dx+win]
				for i := range ra {
					va, vb := float64(ra[i]), float64(rb[i])
					sa += va
					sb += vb
					saa += va * va
					sbb += vb * vb
					sab += va * vb
				}
			}
			ma, mb := sa/cnt, sb/cnt
			va := (saa - cnt*ma*ma) / (cnt - 1)
			vb := (sbb - cnt*mb*mb) / (cnt - 1)
			cov := (sab - cnt*ma*mb) / (cnt - 1)
			sum += ((2*ma*mb + c1) * (2*cov + c2)) / ((ma*ma + mb*mb + c1) * (va + vb + c2))
			n++
		}
	}
	return sum / float64(n)
}

// intersection is Σ min(a_i, b_i) of two histograms that sum to 1.
func intersection(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(min(a[i], b[i]))
	}
	return s
}

// Weights of the three parts of the pixel-space similarity.
const (
	simWeightSSIM   = 0.5
	simWeightColour = 0.25
	simWeightEdges  = 0.25
)

// similarity is the pixel-space similarity of two images in 0..1 (1:
// identical): 0.5·max(0, SSIM of downscaled luminance) + 0.25·CIELAB
// histogram intersection + 0.25·edge-orientation histogram intersection.
func similarity(a, b *features) float64 {
	s := max(0, ssim(a.sim, b.sim))
	c := intersection(a.hist, b.hist)
	var e float64
	flatA, flatB := a.edgeEnergy < 0.01, b.edgeEnergy < 0.01
	switch {
	case flatA && flatB:
		e = 1
	case flatA || flatB:
		e = 0
	default:
		e = intersection(a.edges, b.edges)
	}
	return clampF(simWeightSSIM*s+simWeightColour*c+simWeightEdges*e, 0, 1)
}

func clampF(v, lo, hi float64) float64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}
