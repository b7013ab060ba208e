package objective

import (
	"image"
	"math"
	"math/rand/v2"
)

// The health corpus: images a broken Stable Diffusion model produces (soft
// colour blotches, no edges or objects) and healthy photo-like scenes, all
// generated here so nothing binary is committed. Images are built as float
// planes (0..1, one per channel) and quantised once at the end.

type planes struct {
	w, h int
	c    [3][]float64
}

func newPlanes(w, h int) *planes {
	p := &planes{w: w, h: h}
	for i := range p.c {
		p.c[i] = make([]float64, w*h)
	}
	return p
}

func (p *planes) image() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, p.w, p.h))
	for i := 0; i < p.w*p.h; i++ {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = u8(p.c[0][i]), u8(p.c[1][i]), u8(p.c[2][i]), 255
	}
	return img
}

// resample scales one plane of sw×sh to dw×dh with pixel centres aligned
// (clamped at the borders): bilinear, or Catmull-Rom bicubic when cubic.
func resample(src []float64, sw, sh, dw, dh int, cubic bool) []float64 {
	type tap struct {
		i [4]int
		w [4]float64
	}
	taps := func(sn, dn int) []tap {
		t := make([]tap, dn)
		for d := range t {
			u := (float64(d)+0.5)*float64(sn)/float64(dn) - 0.5
			i0 := int(math.Floor(u))
			f := u - float64(i0)
			var w [4]float64
			if cubic {
				w = [4]float64{
					((-0.5*f+1)*f - 0.5) * f,
					(1.5*f-2.5)*f*f + 1,
					((-1.5*f+2)*f + 0.5) * f,
					(0.5*f - 0.5) * f * f,
				}
			} else {
				w = [4]float64{0, 1 - f, f, 0}
			}
			for k := 0; k < 4; k++ {
				t[d].i[k] = min(sn-1, max(0, i0-1+k))
			}
			t[d].w = w
		}
		return t
	}
	tx, ty := taps(sw, dw), taps(sh, dh)
	rows := make([]float64, dw*sh)
	for y := 0; y < sh; y++ {
		for x, t := range tx {
			var v float64
			for k := 0; k < 4; k++ {
				v += t.w[k] * src[y*sw+t.i[k]]
			}
			rows[y*dw+x] = v
		}
	}
	dst := make([]float64, dw*dh)
	for y, t := range ty {
		for x := 0; x < dw; x++ {
			var v float64
			for k := 0; k < 4; k++ {
				v += t.w[k] * rows[t.i[k]*dw+x]
			}
			dst[y*dw+x] = v
		}
	}
	return dst
}

// blotchField is a low-frequency random colour field: cells×cells random
// colours upsampled smoothly to size×size, so each blotch is size/cells
// pixels wide. mix picks how colour relates to brightness: 0 independent
// channels, 1 a random 3×3 mix of three fields, 2 mostly grey with a weak
// independent tint. noise adds i.i.d. grain on top (a diverged model's output
// is rarely perfectly clean).
func blotchField(size, cells int, cubic bool, mix int, noise float64, seed uint64) *image.NRGBA {
	rng := rand.New(rand.NewPCG(seed, 0xb107))
	var fields [3][]float64
	for c := range fields {
		fields[c] = make([]float64, cells*cells)
		for i := range fields[c] {
			fields[c][i] = rng.NormFloat64()
		}
	}
	var m [3][3]float64
	switch mix {
	case 0:
		m = [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	case 1:
		for i := range m {
			for j := range m[i] {
				m[i][j] = rng.NormFloat64() * 0.7
			}
		}
	default:
		for i := range m {
			m[i][0] = 1
			m[i][1+i%2] = 0.3 * rng.NormFloat64()
		}
	}
	gain := 0.12 + 0.12*rng.Float64()
	p := newPlanes(size, size)
	for c := 0; c < 3; c++ {
		mixed := make([]float64, cells*cells)
		for i := range mixed {
			for k := 0; k < 3; k++ {
				mixed[i] += m[c][k] * fields[k][i]
			}
		}
		up := resample(mixed, cells, cells, size, size, cubic)
		base := 0.5 + 0.15*rng.NormFloat64()
		for i, v := range up {
			p.c[c][i] = base + gain*v + noise*rng.NormFloat64()
		}
	}
	return p.image()
}

// randomDecoder is what a VAE-like decoder with random weights makes of a
// random latent: a 4-channel Gaussian latent at size/8, mapped to RGB by a
// random linear map (kernel 1: a 4×3 matrix per pixel; kernel 3: a random
// 3×3 convolution), upsampled ×8 and squashed into 0..1 (tanh, as a decoder's
// last activation would; gain picks how often it saturates).
func randomDecoder(size, kernel int, cubic bool, gain float64, seed uint64) *image.NRGBA {
	rng := rand.New(rand.NewPCG(seed, 0xdec0))
	l := size / 8
	var lat [4][]float64
	for c := range lat {
		lat[c] = make([]float64, l*l)
		for i := range lat[c] {
			lat[c][i] = rng.NormFloat64()
		}
	}
	r := kernel / 2
	p := newPlanes(size, size)
	for o := 0; o < 3; o++ {
		w := make([]float64, 4*kernel*kernel)
		for i := range w {
			w[i] = rng.NormFloat64() / math.Sqrt(float64(4*kernel*kernel))
		}
		bias := 0.3 * rng.NormFloat64()
		out := make([]float64, l*l)
		for y := 0; y < l; y++ {
			for x := 0; x < l; x++ {
				v := bias
				for c := 0; c < 4; c++ {
					for dy := -r; dy <= r; dy++ {
						for dx := -r; dx <= r; dx++ {
							xx, yy := min(l-1, max(0, x+dx)), min(l-1, max(0, y+dy))
							v += w[(c*kernel+dy+r)*kernel+dx+r] * lat[c][yy*l+xx]
						}
					}
				}
				out[y*l+x] = v
			}
		}
		up := resample(out, l, l, size, size, cubic)
		for i, v := range up {
			p.c[o][i] = 0.5 + 0.5*math.Tanh(gain*v)
		}
	}
	return p.image()
}

// valueNoise is smooth lattice noise in -1..1 at frequency freq (cells per
// unit), with smoothstep interpolation; fbm sums octaves of it with halving
// amplitude, whose spectrum falls as 1/f² like natural textures'.
func valueNoise(u, v float64, freq float64, seed uint64) float64 {
	x, y := u*freq, v*freq
	i, j := math.Floor(x), math.Floor(y)
	fx, fy := x-i, y-j
	fx, fy = fx*fx*(3-2*fx), fy*fy*(3-2*fy)
	h := func(a, b float64) float64 {
		z := uint64(int64(a))*0x9e3779b97f4a7c15 ^ uint64(int64(b))*0xc2b2ae3d27d4eb4f ^ seed*0x165667b19e3779f9
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		return float64(z>>11)/(1<<52) - 1
	}
	a := h(i, j) + fx*(h(i+1, j)-h(i, j))
	b := h(i, j+1) + fx*(h(i+1, j+1)-h(i, j+1))
	return a + fy*(b-a)
}

func fbm(u, v, freq float64, octaves int, seed uint64) float64 {
	var s, amp, norm float64 = 0, 1, 0
	for o := 0; o < octaves; o++ {
		s += amp * valueNoise(u, v, freq, seed+uint64(o))
		norm += amp
		amp /= 2
		freq *= 2
	}
	return s / norm
}

func smoothstep(e0, e1, x float64) float64 {
	t := clampF((x-e0)/(e1-e0), 0, 1)
	return t * t * (3 - 2*t)
}

// cover is the anti-aliased coverage of a shape whose signed distance (in
// image-relative units, negative inside) is d, for an image of size px.
func cover(d float64, size int) float64 {
	return 1 - smoothstep(-0.7, 0.7, d*float64(size))
}

// Kinds of photoScene.
const (
	sceneOutdoor = iota // sky with clouds, textured ground, objects with shadows
	sceneIndoor         // lit wall, wooden floor planks, furniture-like boxes
	sceneStudio         // smooth backdrop gradient, one shaded subject
	sceneBokeh          // defocused colour discs behind a sharp subject
	sceneBricks         // a close-up of a brick wall
	sceneHills          // layered hills in haze, a sun, little else
	sceneClouds         // a sky full of clouds: no edges at all, but 1/f² structure
	numSceneKinds
)

// photoScene renders a photo-like synthetic scene of the given kind: regions
// with edges, shading, gradients and textures, lens blur and sensor noise,
// all in image-relative coordinates so every size shows the same scene.
func photoScene(size, kind int, seed uint64) *image.NRGBA {
	rng := rand.New(rand.NewPCG(seed, 0x9407))
	type rgb = [3]float64
	col := func() rgb { // a natural, moderately saturated colour
		h := rng.Float64()
		s, v := 0.25+0.5*rng.Float64(), 0.35+0.55*rng.Float64()
		return hsv(h, s, v)
	}
	type object struct {
		shape        int // 0 disc (sphere-shaded), 1 box, 2 triangle
		cx, cy, r    float64
		c            rgb
		tex          int // 0 plain, 1 stripes, 2 checks, 3 dots
		freq, aspect float64
	}
	var objs []object
	nObj := 1 + rng.IntN(4)
	switch kind {
	case sceneStudio, sceneBokeh:
		nObj = 1
	case sceneBricks, sceneClouds:
		nObj = 0
	case sceneHills:
		nObj = rng.IntN(2)
	}
	for i := 0; i < nObj; i++ {
		o := object{shape: rng.IntN(3), cx: 0.2 + 0.6*rng.Float64(), cy: 0.45 + 0.35*rng.Float64(), r: 0.08 + 0.14*rng.Float64(),
			c: col(), tex: rng.IntN(4), freq: 8 + 16*rng.Float64(), aspect: 0.6 + 0.8*rng.Float64()}
		if kind == sceneStudio || kind == sceneBokeh {
			o.cx, o.cy, o.r = 0.5+0.1*rng.NormFloat64(), 0.55, 0.22+0.1*rng.Float64()
		}
		objs = append(objs, o)
	}
	horizon := 0.4 + 0.25*rng.Float64()
	sky2, ground, ground2 := col(), col(), col()
	sky := rgb{0.45 + 0.2*rng.Float64(), 0.6 + 0.2*rng.Float64(), 0.85 + 0.15*rng.Float64()}
	light := [2]float64{rng.Float64()*2 - 1, -0.5 - 0.5*rng.Float64()}
	type disc struct {
		cx, cy, r float64
		c         rgb
	}
	var bokeh []disc
	for i := 0; i < 12+rng.IntN(12); i++ {
		bokeh = append(bokeh, disc{rng.Float64(), rng.Float64(), 0.04 + 0.08*rng.Float64(), col()})
	}
	hills := make([]float64, 4)
	for i := range hills {
		hills[i] = horizon - 0.1 + 0.1*float64(i)
	}
	sunX, sunY := 0.15+0.7*rng.Float64(), 0.1+0.15*rng.Float64()
	mortar := rgb{0.75, 0.72, 0.66}
	brickRows := 8 + rng.IntN(10)
	nseed := rng.Uint64()

	p := newPlanes(size, size)
	for y := 0; y < size; y++ {
		v := (float64(y) + 0.5) / float64(size)
		for x := 0; x < size; x++ {
			u := (float64(x) + 0.5) / float64(size)
			var c rgb
			switch kind {
			case sceneOutdoor, sceneStudio, sceneHills:
				if kind == sceneStudio {
					d := math.Hypot(u-0.5, v-0.35)
					for k := range c {
						c[k] = sky2[k]*(1-0.6*d) + 0.05
					}
					break
				}
				cl := 0.5 + 0.5*fbm(u, v, 3, 5, nseed)
				for k := range c {
					c[k] = sky[k]*(0.8+0.25*v/horizon) + 0.25*smoothstep(0.45, 0.8, cl)
				}
				g := cover(horizon-v, size) // 1 below the horizon
				if kind == sceneHills {
					for i, hb := range hills {
						top := hb - 0.06*math.Sin(2*math.Pi*(u*(1.3+0.4*float64(i))+0.3*float64(i))) - 0.03*fbm(u, 0, 6, 3, nseed+uint64(i))
						a := cover(top-v, size)
						haze := 0.7 - 0.2*float64(i)
						for k := range c {
							hc := ground[k]*(1-haze) + sky[k]*haze
							c[k] = c[k]*(1-a) + hc*a
						}
					}
					sun := cover(math.Hypot(u-sunX, v-sunY)-0.05, size)
					for k := range c {
						c[k] = c[k]*(1-sun) + [3]float64{1, 0.95, 0.8}[k]*sun
					}
					break
				}
				tex := fbm(u*3, v*12, 8, 4, nseed+7)
				for k := range c {
					gc := ground[k]*(0.75+0.35*(v-horizon)) + 0.12*tex
					c[k] = c[k]*(1-g) + gc*g
				}
			case sceneIndoor:
				wall := 0.65
				lit := 1 - 0.5*math.Hypot(u-0.3, v-0.2)
				for k := range c {
					c[k] = sky2[k] * lit * 1.2
				}
				if v > wall {
					plank := math.Floor(u * 7)
					grain := 0.08*math.Sin(2*math.Pi*(u*7*2+fbm(u, v, 4, 3, nseed)*2)) + 0.05*fbm(u*20, v*2, 8, 3, nseed+uint64(plank))
					seam := 1 - 0.5*cover(math.Abs(u*7-plank-0.5)-0.47, size*7)
					for k := range c {
						c[k] = (ground2[k]*(0.8+0.1*math.Sin(plank*1.7)) + grain) * seam * (0.7 + 0.4*(v-wall))
					}
				}
			case sceneBokeh:
				for k := range c {
					c[k] = ground2[k] * 0.5
				}
				for _, b := range bokeh {
					a := 0.55 * (1 - smoothstep(-0.01, 0.01, math.Hypot(u-b.cx, v-b.cy)-b.r))
					for k := range c {
						c[k] = c[k]*(1-a) + b.c[k]*a
					}
				}
			case sceneBricks:
				row := math.Floor(v * float64(brickRows))
				off := 0.5 * math.Mod(row, 2)
				bu := u*float64(brickRows)/2.2 + off
				col := math.Floor(bu)
				shade := 0.85 + 0.3*(valueNoise(col, row, 1, nseed)*0.5)
				br := rgb{0.62 * shade, 0.3 * shade, 0.22 * shade}
				dy := math.Abs(v*float64(brickRows)-row-0.5) - 0.44
				dx := (math.Abs(bu-col-0.5) - 0.46) * 2.2
				m := 1 - cover(max(dx, dy)/float64(brickRows), size)
				grit := 0.06 * fbm(u*4, v*4, 16, 3, nseed+3)
				for k := range c {
					c[k] = br[k]*(1-m) + mortar[k]*m + grit
				}
			case sceneClouds:
				cl := 0.5 + 0.5*fbm(u, v, 2, 6, nseed)
				t := smoothstep(0.35, 0.75, cl)
				for k := range c {
					c[k] = sky[k]*(1-t)*(0.85+0.2*v) + (0.92-0.25*smoothstep(0.7, 0.95, cl))*t
				}
			}
			for _, o := range objs {
				// shadow on the ground below the object
				sh := cover(math.Hypot((u-o.cx-0.05*light[0])/(o.r*1.2), (v-o.cy-o.r*0.9)/(o.r*0.3))-1, size/8) * 0.45
				for k := range c {
					c[k] *= 1 - sh
				}
				var d, shade float64
				du, dv := (u-o.cx)/o.r, (v-o.cy)/o.r
				switch o.shape {
				case 0:
					d = (math.Hypot(du, dv) - 1) * o.r
					nz := math.Sqrt(max(0, 1-du*du-dv*dv))
					shade = 0.35 + 0.65*max(0, du*light[0]*0.6+dv*light[1]*0.6+nz*0.6)
				case 1:
					d = max(math.Abs(du)-o.aspect, math.Abs(dv)-1) * o.r
					shade = 0.75 + 0.25*(du*light[0]+dv*light[1])/2
				default:
					d = max(dv-1, math.Abs(du)*1.2-(dv+1)*0.6) * o.r
					shade = 0.8 + 0.2*du*light[0]
				}
				a := cover(d, size)
				if a == 0 {
					continue
				}
				t := 1.0
				switch o.tex {
				case 1:
					t = 0.75 + 0.25*smoothstep(-0.15, 0.15, math.Sin(2*math.Pi*o.freq*(u+v*0.3)))
				case 2:
					t = 0.8 + 0.2*math.Copysign(1, math.Sin(2*math.Pi*o.freq*u)*math.Sin(2*math.Pi*o.freq*v))
				case 3:
					t = 1 - 0.3*cover(math.Hypot(math.Mod(u*o.freq, 1)-0.5, math.Mod(v*o.freq, 1)-0.5)/o.freq-0.15/o.freq, size)
				}
				edge := 0.65 + 0.35*cover(-d-0.006, size) // a darker rim at the outline
				spec := 0.0
				if o.shape == 0 {
					spec = 0.5 * smoothstep(0.8, 1, 1-math.Hypot(du-0.4*light[0], dv-0.4*light[1]))
				}
				for k := range c {
					obj := o.c[k]*shade*t*edge + spec
					c[k] = c[k]*(1-a) + obj*a
				}
			}
			i := y*size + x
			vig := 1 - 0.25*((u-0.5)*(u-0.5)+(v-0.5)*(v-0.5))
			for k := range c {
				p.c[k][i] = c[k] * vig
			}
		}
	}
	// Lens softness (a 3-tap blur for sizes where a pixel is fine detail)
	// and sensor noise.
	if size >= 256 {
		for k := range p.c {
			p.c[k] = blur3(p.c[k], size, size)
		}
	}
	grain := 0.004 + 0.012*rng.Float64()
	for k := range p.c {
		for i := range p.c[k] {
			p.c[k][i] += grain * rng.NormFloat64()
		}
	}
	return p.image()
}

func blur3(src []float64, w, h int) []float64 {
	tmp := make([]float64, len(src))
	dst := make([]float64, len(src))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			l, r := max(0, x-1), min(w-1, x+1)
			tmp[y*w+x] = 0.25*src[y*w+l] + 0.5*src[y*w+x] + 0.25*src[y*w+r]
		}
	}
	for y := 0; y < h; y++ {
		u, d := max(0, y-1), min(h-1, y+1)
		for x := 0; x < w; x++ {
			dst[y*w+x] = 0.25*tmp[u*w+x] + 0.5*tmp[y*w+x] + 0.25*tmp[d*w+x]
		}
	}
	return dst
}

func hsv(h, s, v float64) [3]float64 {
	h = math.Mod(h, 1) * 6
	i := math.Floor(h)
	f := h - i
	p, q, t := v*(1-s), v*(1-s*f), v*(1-s*(1-f))
	switch int(i) {
	case 0:
		return [3]float64{v, t, p}
	case 1:
		return [3]float64{q, v, p}
	case 2:
		return [3]float64{p, v, t}
	case 3:
		return [3]float64{p, q, v}
	case 4:
		return [3]float64{t, p, v}
	}
	return [3]float64{v, p, q}
}

// withGrain adds Gaussian sensor grain of sigma (0..1 units) to img.
func withGrain(img *image.NRGBA, sigma float64, seed uint64) *image.NRGBA {
	rng := rand.New(rand.NewPCG(seed, 0x9a17))
	out := image.NewNRGBA(img.Bounds())
	for i := 0; i < len(img.Pix); i += 4 {
		for c := 0; c < 3; c++ {
			out.Pix[i+c] = u8(float64(img.Pix[i+c])/255 + sigma*rng.NormFloat64())
		}
		out.Pix[i+3] = 255
	}
	return out
}
