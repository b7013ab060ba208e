package builtin

import (
	"math"
	"math/rand/v2"
	"slices"
)

// The frozen decoder ("VAE") paints a latent as a sum of fixed spatial
// atoms, one RGB coefficient triple per atom: pixel = 0.5 + Σ_a lat[c·16+a]
// · atom_a(x, y). The atoms are a small scene vocabulary — sky and ground
// either side of a horizon, water, buildings, trees, snow/rain speckle, a
// sun, a centred toy (a bear's head, ears and body), its face, stripes
// inside it, an outline around it and three small clutter objects — drawn
// in image-relative coordinates so any size renders the same picture. They
// replace a 4×4 cosine basis whose images were colour blobs nobody could
// read: with these, a 32 px sample shows the context, the subject and what
// a LoRA did to them.
const (
	atomSky = iota
	atomGround
	atomSkyGrad
	atomGroundGrad
	atomWaves
	atomBuildings
	atomTrees
	atomSpeckle
	atomSun
	atomToy
	atomFace
	atomStripes
	atomOutline
	atomBall
	atomBox
	atomKite
	numAtoms
)

const horizon = 0.58 // image-relative height of the horizon

// toyDist is a signed distance-like value to the toy (negative inside):
// head, two ears and a body, in image-relative units.
func toyDist(u, v float64) float64 {
	circle := func(cx, cy, r float64) float64 { return math.Hypot(u-cx, v-cy) - r }
	d := circle(0.5, 0.36, 0.14)
	d = math.Min(d, circle(0.385, 0.235, 0.06))
	d = math.Min(d, circle(0.615, 0.235, 0.06))
	// body: an ellipse, distance approximated by scaling to a unit circle
	ex, ey := (u-0.5)/0.21, (v-0.69)/0.2
	d = math.Min(d, (math.Hypot(ex, ey)-1)*0.2)
	return d
}

// cellHash is a fixed pseudo-random value in [0,1) for an integer cell
// (splitmix64's finaliser: neighbouring cells get unrelated values).
func cellHash(i, j int) float64 {
	x := uint64(i)*0x9e3779b97f4a7c15 + uint64(j)*0xbf58476d1ce4e5b9 + 0x5c
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}

// atomAt evaluates every atom at one image-relative point.
func atomAt(u, v float64, out *[numAtoms]float64) {
	*out = [numAtoms]float64{}
	td := toyDist(u, v)
	if td < 0 {
		out[atomToy] = 1
		if math.Hypot(u-0.445, v-0.35) < 0.03 || math.Hypot(u-0.555, v-0.35) < 0.03 || math.Hypot(u-0.5, v-0.415) < 0.032 {
			out[atomFace] = 1
		}
		if math.Sin(2*math.Pi*6*(u-0.5)+math.Pi/2) >= 0 {
			out[atomStripes] = 1
		} else {
			out[atomStripes] = -1
		}
		return
	}
	if td < 0.045 {
		out[atomOutline] = 1
	}
	sky := v < horizon
	if sky {
		out[atomSky] = 1
		out[atomSkyGrad] = v/horizon*2 - 1
		// a skyline of blocks of different heights
		blocks := [...]float64{0.30, 0.18, 0.40, 0.24, 0.12, 0.34, 0.22, 0.38}
		if top := blocks[int(u*float64(len(blocks)))%len(blocks)]; v > top && math.Mod(u*float64(len(blocks)), 1) > 0.08 {
			out[atomBuildings] = 1
		}
		// trees: triangles standing on the horizon
		for _, c := range [...]float64{0.07, 0.2, 0.8, 0.93} {
			if dv := (v - 0.22) / (horizon - 0.22); dv > 0 && math.Abs(u-c) < 0.085*dv {
				out[atomTrees] = 1
			}
		}
		if math.Hypot(u-0.84, v-0.15) < 0.085 {
			out[atomSun] = 1
		}
		if math.Hypot((u-0.2)/2, v-0.14) < 0.05 {
			out[atomKite] = 1
		}
	} else {
		out[atomGround] = 1
		g := (v - horizon) / (1 - horizon)
		out[atomGroundGrad] = g*2 - 1
		out[atomWaves] = math.Sin(2 * math.Pi * (g*3.5 + 0.12*math.Sin(2*math.Pi*2*u)))
		if math.Hypot(u-0.13, v-0.84) < 0.075 {
			out[atomBall] = 1
		}
		if math.Abs(u-0.86) < 0.07 && math.Abs(v-0.8) < 0.07 {
			out[atomBox] = 1
		}
	}
	// snow flakes or rain drops: sparse dots on a fixed grid
	const cells = 11
	ci, cj := int(u*cells), int(v*cells)
	if r := cellHash(ci, cj); r < 0.45 {
		cu, cv := (float64(ci)+0.25+0.5*r)/cells, (float64(cj)+0.5)/cells
		if math.Hypot(u-cu, v-cv) < 0.3/cells {
			out[atomSpeckle] = 1
		}
	}
}

// atomTable renders every atom at w×h with 2×2 supersampling (soft edges):
// table[a*w*h + y*w + x].
func atomTable(w, h int) []float64 {
	t := make([]float64, numAtoms*w*h)
	var at [numAtoms]float64
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for sy := 0; sy < 2; sy++ {
				for sx := 0; sx < 2; sx++ {
					atomAt((float64(x)+0.25+0.5*float64(sx))/float64(w), (float64(y)+0.25+0.5*float64(sy))/float64(h), &at)
					for a, v := range at {
						t[a*w*h+y*w+x] += v / 4
					}
				}
			}
		}
	}
	return t
}

// rgb is a colour with channels in [0,1].
type rgb [3]float64

// scene is a designed picture: absolute colours of its regions (a zero
// colour means the region is absent and shows what lies under it).
type scene struct {
	sky, ground       rgb
	skyGrad, gndGrad  float64 // brightness change from top to bottom of each
	waves, buildings  rgb
	trees, speckle    rgb
	sun               rgb
	toy, face, stripe rgb // stripe: half the difference between the stripes
}

var (
	plainToy = rgb{0.76, 0.56, 0.34}
	toyFace  = rgb{0.16, 0.1, 0.06}
)

// contextScenes are the base model's vocabulary of places: the demo's
// trained and held-out contexts and a studio backdrop for a bare class.
func contextScenes() map[string]scene {
	blueSky := rgb{0.55, 0.75, 0.95}
	wall := rgb{0.86, 0.8, 0.68}
	wood := rgb{0.55, 0.36, 0.2}
	s := func(sky, ground rgb) scene {
		return scene{sky: sky, ground: ground, toy: plainToy, face: toyFace, skyGrad: 0.12}
	}
	m := map[string]scene{}
	add := func(ctx string, sc scene) { m[ctx] = sc }
	sc := s(blueSky, rgb{0.3, 0.66, 0.22})
	sc.sun = rgb{0.98, 0.92, 0.45}
	add("on grass", sc)
	sc = s(rgb{0.8, 0.84, 0.9}, rgb{0.95, 0.96, 0.98})
	sc.speckle = rgb{1, 1, 1}
	add("in snow", sc)
	sc = s(blueSky, rgb{0.9, 0.8, 0.55})
	sc.sun = rgb{0.98, 0.92, 0.45}
	add("at the beach", sc)
	sc = s(wall, rgb{0.5, 0.2, 0.32})
	sc.skyGrad = 0
	add("on a sofa", sc)
	sc = s(rgb{0.5, 0.68, 0.5}, rgb{0.35, 0.3, 0.16})
	sc.trees = rgb{0.08, 0.35, 0.12}
	add("in a forest", sc)
	sc = s(rgb{0.16, 0.14, 0.18}, rgb{0.3, 0.22, 0.16})
	sc.sun = rgb{1, 0.9, 0.5}
	sc.skyGrad = 0
	add("under a lamp", sc)
	sc = s(blueSky, rgb{0.36, 0.36, 0.38})
	add("on a road", sc)
	sc = s(blueSky, rgb{0.25, 0.45, 0.7})
	sc.waves = rgb{0.45, 0.65, 0.85}
	sc.trees = rgb{0.12, 0.42, 0.16}
	add("near a lake", sc)
	sc = s(wall, wood)
	sc.skyGrad = 0
	add("on a table", sc)
	sc = s(rgb{0.42, 0.45, 0.5}, rgb{0.3, 0.33, 0.38})
	sc.speckle = rgb{0.7, 0.78, 0.9}
	add("in the rain", sc)
	sc = s(rgb{0.7, 0.78, 0.74}, wood)
	sc.skyGrad = 0
	add("on a shelf", sc)
	sc = s(rgb{0.7, 0.86, 1}, rgb{0.82, 0.78, 0.72})
	add("by a window", sc)
	sc = s(rgb{0.72, 0.82, 0.92}, rgb{0.92, 0.66, 0.36})
	sc.sun = rgb{1, 0.95, 0.6}
	add("in a desert", sc)
	sc = s(blueSky, rgb{0.1, 0.3, 0.62})
	sc.waves = rgb{0.3, 0.55, 0.85}
	add("on a boat", sc)
	sc = s(rgb{0.7, 0.72, 0.76}, rgb{0.4, 0.4, 0.42})
	sc.buildings = rgb{0.34, 0.36, 0.42}
	add("in the city", sc)
	add("", s(rgb{0.62, 0.62, 0.64}, rgb{0.5, 0.5, 0.52}))
	return m
}

// latent converts a scene into decoder coefficients.
func (s scene) latent() []float32 {
	lat := make([]float32, latentDim)
	rel := func(c, under rgb) rgb { // an overlay's coefficient: its colour minus what it covers
		if c == (rgb{}) {
			return rgb{}
		}
		return rgb{c[0] - under[0], c[1] - under[1], c[2] - under[2]}
	}
	set := func(a int, v rgb) {
		for c := 0; c < 3; c++ {
			lat[c*numAtoms+a] = float32(v[c])
		}
	}
	abs := func(c rgb) rgb { return rgb{c[0] - 0.5, c[1] - 0.5, c[2] - 0.5} }
	set(atomSky, abs(s.sky))
	set(atomGround, abs(s.ground))
	set(atomSkyGrad, rgb{s.skyGrad, s.skyGrad, s.skyGrad})
	set(atomGroundGrad, rgb{s.gndGrad, s.gndGrad, s.gndGrad})
	set(atomWaves, rel(s.waves, s.ground))
	set(atomBuildings, rel(s.buildings, s.sky))
	set(atomTrees, rel(s.trees, s.sky))
	set(atomSpeckle, rel(s.speckle, s.sky)) // over sky and ground alike
	set(atomSun, rel(s.sun, s.sky))
	set(atomToy, abs(s.toy))
	set(atomFace, rel(s.face, s.toy))
	set(atomStripes, s.stripe)
	return lat
}

// subjectLook is the trigger word's look, as a latent delta on the plain
// toy: a red body with white vertical stripes and a dark outline.
func subjectLook() []float32 {
	red, white := rgb{0.84, 0.16, 0.16}, rgb{0.95, 0.92, 0.88}
	var mid, half rgb
	for c := range mid {
		mid[c] = (red[c] + white[c]) / 2
		half[c] = (white[c] - red[c]) / 2
	}
	d := make([]float32, latentDim)
	for c := 0; c < 3; c++ {
		d[c*numAtoms+atomToy] = float32(mid[c] - plainToy[c])
		d[c*numAtoms+atomStripes] = float32(half[c])
		d[c*numAtoms+atomOutline] = -0.45
		d[c*numAtoms+atomFace] = float32(plainToy[c] - mid[c]) // the face stays dark
	}
	return d
}

// fitWords returns made-up words (consonant, vowel, consonant, drawn from
// rng) that the base model is taught to ignore while its output layer is
// fitted: a real base model renders "zkx toy" about as "toy", so an unknown
// word must not repaint the scene. A trigger like the demo's "zkx" has no
// vowel and cannot be among them.
func fitWords(rng *rand.Rand, n int) []string {
	const cons, vows = "bdfglmnprstvw", "aeiou"
	words := make([]string, n)
	for i := range words {
		words[i] = string([]byte{cons[rng.IntN(len(cons))], vows[rng.IntN(len(vows))], cons[rng.IntN(len(cons))]})
	}
	return words
}

// fitOutputLayer sets the unet's output layer (proj_out, w[2] and b[2]) by
// ridge regression so that the base model paints the designed scene of
// each context prompt "toy, <context>" (also with an unknown word before
// the class, and for a bare class on the studio backdrop). Layers 0 and 1
// stay random features. It is deterministic and takes about a millisecond.
func fitOutputLayer(m *baseModel, rng *rand.Rand) {
	type row struct {
		text   string
		target []float32
		weight float64
	}
	var rows []row
	fillers := fitWords(rng, 32)
	const cleanWeight = 64 // the vocabulary's own prompts matter most
	scenes := contextScenes()
	ctxs := make([]string, 0, len(scenes))
	for ctx := range scenes {
		ctxs = append(ctxs, ctx)
	}
	slices.Sort(ctxs) // the sums below must not follow map order
	for _, ctx := range ctxs {
		lat := scenes[ctx].latent()
		texts := []string{"toy, " + ctx, "toy " + ctx}
		if ctx == "" {
			texts = []string{"toy", "a photo of a toy", "a toy"}
		}
		for _, t := range texts {
			rows = append(rows, row{t, lat, cleanWeight})
			for _, w := range fillers {
				rows = append(rows, row{w + " " + t, lat, 1})
			}
		}
	}
	const feat = hiddenDim + 1
	var gram [feat * feat]float64
	rhs := make([]float64, feat*latentDim)
	f := newForwardState(1)
	hfeat := make([]float64, feat)
	for _, r := range rows {
		for draw := 0; draw < 2; draw++ {
			z := make([]float32, noiseDim)
			for i := range z {
				z[i] = float32(rng.NormFloat64() * noiseGain)
			}
			forward(m, nil, f, promptEmbedding(r.text), nil, z, nil)
			for i, a := range f.a {
				hfeat[i] = float64(a)
			}
			hfeat[hiddenDim] = 1
			for i := 0; i < feat; i++ {
				hw := hfeat[i] * r.weight
				for j := 0; j < feat; j++ {
					gram[i*feat+j] += hw * hfeat[j]
				}
				for o := 0; o < latentDim; o++ {
					rhs[i*latentDim+o] += hw * float64(r.target[o])
				}
			}
		}
	}
	for i := 0; i < hiddenDim; i++ {
		gram[i*feat+i] += 1e-3
	}
	sol := solveSPD(gram[:], feat, rhs, latentDim)
	for o := 0; o < latentDim; o++ {
		for i := 0; i < hiddenDim; i++ {
			m.w[2][o*hiddenDim+i] = float32(sol[i*latentDim+o])
		}
		m.b[2][o] = float32(sol[hiddenDim*latentDim+o])
	}
}

// solveSPD solves A X = B for a symmetric positive definite n×n A and
// n×k B (row-major) by Cholesky decomposition; A and B are overwritten.
func solveSPD(a []float64, n int, b []float64, k int) []float64 {
	for j := 0; j < n; j++ {
		s := a[j*n+j]
		for p := 0; p < j; p++ {
			s -= a[j*n+p] * a[j*n+p]
		}
		d := math.Sqrt(math.Max(s, 1e-12))
		a[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for p := 0; p < j; p++ {
				s -= a[i*n+p] * a[j*n+p]
			}
			a[i*n+j] = s / d
		}
	}
	for c := 0; c < k; c++ { // forward then back substitution, column c
		for i := 0; i < n; i++ {
			s := b[i*k+c]
			for p := 0; p < i; p++ {
				s -= a[i*n+p] * b[p*k+c]
			}
			b[i*k+c] = s / a[i*n+i]
		}
		for i := n - 1; i >= 0; i-- {
			s := b[i*k+c]
			for p := i + 1; p < n; p++ {
				s -= a[p*n+i] * b[p*k+c]
			}
			b[i*k+c] = s / a[i*n+i]
		}
	}
	return b
}
