package builtin

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"unicode"
)

// Model dimensions. They are part of the saved LoRA's tensor shapes.
const (
	embDim    = 16           // word embedding and text encoding width
	noiseDim  = 4            // seed-driven latent
	hiddenDim = 48           // unet hidden units
	latentDim = 3 * numAtoms // an RGB coefficient per decoder atom
	fp16Max   = 65504
	// noiseGain keeps the seed's influence a variation, not the content.
	noiseGain = 0.15
	baseSeed  = 0x6c6f7261 // "lora": the frozen base model's weights
)

// Module names, kohya style; index order is te, proj_in, proj_out.
var moduleNames = [3]string{
	"lora_te_text_model_encoder_layers_0_mlp_fc1",
	"lora_unet_down_blocks_0_attentions_0_proj_in",
	"lora_unet_up_blocks_0_attentions_0_proj_out",
}

var moduleShapes = [3][2]int{ // out, in
	{embDim, embDim},
	{hiddenDim, embDim + noiseDim},
	{latentDim, hiddenDim},
}

// baseModel is the frozen generator. It is a pure function of baseSeed.
type baseModel struct {
	w [3][]float32 // out×in each
	b [3][]float32
}

// newBaseModel draws the text encoder and proj_in as seeded random layers
// (proj_in's text part strong enough for SiLU to bend, so its 48 units are
// distinct features of the prompt; its latent part weak, so a seed varies
// a picture without repainting it) and then fits proj_out to the designed
// scenes of the demo vocabulary (fitOutputLayer).
func newBaseModel() *baseModel {
	rng := rand.New(rand.NewPCG(baseSeed, 1))
	m := &baseModel{}
	for l := 0; l < 3; l++ {
		out, in := moduleShapes[l][0], moduleShapes[l][1]
		m.w[l] = make([]float32, out*in)
		m.b[l] = make([]float32, out)
		for o := 0; o < out; o++ {
			for i := 0; i < in; i++ {
				g := 0.4 // text encoder: the identity plus a little mixing
				if l == 1 {
					g = 6
					if i >= embDim {
						g = 1.6
					}
				}
				m.w[l][o*in+i] = float32(rng.NormFloat64() * g / math.Sqrt(float64(in)))
			}
		}
		if l == 0 {
			for i := 0; i < embDim; i++ {
				m.w[0][i*embDim+i] += 1
			}
		}
		bg := 0.05
		if l == 1 {
			bg = 0.5 // spread the units' operating points over SiLU's bend
		}
		for i := range m.b[l] {
			m.b[l][i] = float32(rng.NormFloat64() * bg)
		}
	}
	fitOutputLayer(m, rng)
	return m
}

// tokenize lower-cases text and splits it into words of letters and digits.
func tokenize(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// wordEmbedding is a fixed unit vector per word, from the word's hash.
func wordEmbedding(word string) [embDim]float32 {
	h := fnv.New64a()
	h.Write([]byte(word))
	rng := rand.New(rand.NewPCG(h.Sum64(), 7))
	var e [embDim]float32
	var n float64
	v := make([]float64, embDim)
	for i := range v {
		v[i] = rng.NormFloat64()
		n += v[i] * v[i]
	}
	n = math.Sqrt(n)
	for i := range v {
		e[i] = float32(v[i] / n)
	}
	return e
}

// promptTokens returns the prompt's word embeddings, n×embDim.
func promptTokens(text string) []float32 {
	words := tokenize(text)
	out := make([]float32, 0, len(words)*embDim)
	for _, w := range words {
		e := wordEmbedding(w)
		out = append(out, e[:]...)
	}
	return out
}

// promptEmbedding is the mean word embedding of a prompt (zero if empty).
func promptEmbedding(text string) []float32 {
	out := make([]float32, embDim)
	words := tokenize(text)
	for _, w := range words {
		e := wordEmbedding(w)
		for i := range out {
			out[i] += e[i]
		}
	}
	if len(words) > 0 {
		for i := range out {
			out[i] /= float32(len(words))
		}
	}
	return out
}

// seedNoise is the latent drawn from a sample seed.
func seedNoise(seed int64) []float32 {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	z := make([]float32, noiseDim)
	for i := range z {
		z[i] = float32(rng.NormFloat64() * noiseGain)
	}
	return z
}

// loraModule is one LoRA adapter: y += scale · up(mask ∘ down(x)).
type loraModule struct {
	idx     int // 0 text encoder, 1 proj_in, 2 proj_out
	name    string
	in, out int
	rank    int
	alpha   float32
	down    []float32 // rank×in
	up      []float32 // out×rank
	gDown   []float32
	gUp     []float32
	enabled bool // applied, trained and saved
}

func (m *loraModule) scale() float32 { return m.alpha / float32(m.rank) }

// network is the set of LoRA modules over the base model.
type network struct {
	mods [3]*loraModule
}

// newNetwork creates modules with kohya's init: down Kaiming-uniform
// (a = √5, as torch's Linear default), up zero.
func newNetwork(rank int, alpha float64, rng *rand.Rand, enabled [3]bool) *network {
	n := &network{}
	for l := 0; l < 3; l++ {
		out, in := moduleShapes[l][0], moduleShapes[l][1]
		m := &loraModule{idx: l, name: moduleNames[l], in: in, out: out, rank: rank, alpha: float32(alpha), enabled: enabled[l]}
		m.down = make([]float32, rank*in)
		m.up = make([]float32, out*rank)
		m.gDown = make([]float32, rank*in)
		m.gUp = make([]float32, out*rank)
		bound := 1 / math.Sqrt(float64(in))
		for i := range m.down {
			m.down[i] = float32((rng.Float64()*2 - 1) * bound)
		}
		n.mods[l] = m
	}
	return n
}

func sigmoid(v float32) float32 { return float32(1 / (1 + math.Exp(-float64(v)))) }

// overflow16 turns values beyond the fp16 range into ±Inf, as an fp16
// activation would.
func overflow16(v float32) float32 {
	if v > fp16Max {
		return float32(math.Inf(1))
	}
	if v < -fp16Max {
		return float32(math.Inf(-1))
	}
	return v
}

// layerState holds one layer's forward values for the backward pass.
type layerState struct {
	x    []float32 // input
	v    []float32 // down(x) (rank)
	mask []float32 // per-rank multiplier (dropouts); nil = all ones
	skip bool      // module dropout skipped this module
	// perRank: the text encoder saw tokens with per-token network dropout;
	// xr holds each rank's effective (masked, pooled) input, rank×in.
	perRank bool
	xr      []float32
	sc      float32   // effective scale
	y       []float32 // output (pre-activation)
}

// dropouts are the training-time regularisers (nil when sampling), with
// networks.lora's granularity: network dropout per element of the down
// output (per token in the text encoder), rank dropout per sample and rank
// channel, module dropout per module and forward call (one batch).
type dropouts struct {
	network, rank, module float64
	rng                   *rand.Rand
	skip                  [3]bool
}

// newStep draws this batch's module dropout.
func (d *dropouts) newStep() {
	for i := range d.skip {
		d.skip[i] = d.module > 0 && d.rng.Float64() < d.module
	}
}

func (s *layerState) ensure(in, out, rank int) {
	if cap(s.x) < in {
		s.x = make([]float32, in)
	}
	s.x = s.x[:in]
	if cap(s.v) < rank {
		s.v = make([]float32, rank)
		s.mask = make([]float32, rank)
	}
	s.v, s.mask = s.v[:rank], s.mask[:rank]
	if cap(s.y) < out {
		s.y = make([]float32, out)
	}
	s.y = s.y[:out]
}

// linear computes s.y = W s.x + b (+ LoRA), with dropouts when d != nil.
func linear(w, b []float32, m *loraModule, s *layerState, d *dropouts) {
	in, out := len(s.x), len(s.y)
	for o := 0; o < out; o++ {
		row := w[o*in : o*in+in]
		acc := b[o]
		for i, xv := range s.x {
			acc += row[i] * xv
		}
		s.y[o] = acc
	}
	s.perRank = false
	s.skip = m == nil || !m.enabled || (d != nil && d.skip[m.idx])
	if s.skip {
		return
	}
	r := m.rank
	s.sc = m.scale()
	for k := 0; k < r; k++ {
		row := m.down[k*in : k*in+in]
		var acc float32
		for i, xv := range s.x {
			acc += row[i] * xv
		}
		s.v[k] = overflow16(acc)
		s.mask[k] = 1
	}
	if d != nil && d.network > 0 {
		keep := float32(1 / (1 - d.network))
		for k := range s.mask {
			if d.rng.Float64() < d.network {
				s.mask[k] = 0
			} else {
				s.mask[k] *= keep
			}
		}
	}
	applyUp(m, s, d)
}

// applyUp applies rank dropout and adds scale · up(mask ∘ v) to s.y.
func applyUp(m *loraModule, s *layerState, d *dropouts) {
	r, out := m.rank, len(s.y)
	if d != nil && d.rank > 0 {
		for k := range s.mask {
			if d.rng.Float64() < d.rank {
				s.mask[k] = 0
			}
		}
		s.sc *= float32(1 / (1 - d.rank))
	}
	for o := 0; o < out; o++ {
		row := m.up[o*r : o*r+r]
		var acc float32
		for k, u := range row {
			acc += u * s.mask[k] * s.v[k]
		}
		s.y[o] += s.sc * acc
	}
}

// linearTokens is linear for the text encoder during training with network
// dropout: the module runs on each token's embedding (toks, n×in) with its
// own dropout mask, and the outputs are pooled. Without dropout this equals
// linear on the pooled embedding, which is what sampling uses.
func linearTokens(w, b []float32, m *loraModule, s *layerState, toks []float32, d *dropouts) {
	linear(w, b, nil, s, nil) // base part on the pooled input
	s.skip = !m.enabled || d.skip[m.idx]
	if s.skip {
		return
	}
	in, r := len(s.x), m.rank
	n := len(toks) / in
	if cap(s.xr) < r*in {
		s.xr = make([]float32, r*in)
	}
	s.xr = s.xr[:r*in]
	clear(s.xr)
	keep := float32(1 / (1 - d.network))
	inv := 1 / float32(n)
	for t := 0; t < n; t++ {
		e := toks[t*in : t*in+in]
		for k := 0; k < r; k++ {
			if d.rng.Float64() < d.network {
				continue
			}
			row := s.xr[k*in : k*in+in]
			for i, v := range e {
				row[i] += keep * inv * v
			}
		}
	}
	for k := 0; k < r; k++ {
		row := m.down[k*in : k*in+in]
		xr := s.xr[k*in : k*in+in]
		var acc float32
		for i, v := range xr {
			acc += row[i] * v
		}
		s.v[k] = overflow16(acc)
		s.mask[k] = 1
	}
	s.perRank = true
	s.sc = m.scale()
	applyUp(m, s, d)
}

// linearBackward accumulates LoRA gradients for gy and, when gx != nil,
// writes the gradient with respect to the input.
func linearBackward(w []float32, m *loraModule, s *layerState, gy, gx, tmp []float32) {
	in, out := len(s.x), len(s.y)
	if gx != nil {
		for i := range gx {
			gx[i] = 0
		}
		for o := 0; o < out; o++ {
			g := gy[o]
			if g == 0 {
				continue
			}
			row := w[o*in : o*in+in]
			for i := range gx {
				gx[i] += row[i] * g
			}
		}
	}
	if s.skip {
		return
	}
	r := m.rank
	t := tmp[:r]
	for k := range t {
		t[k] = 0
	}
	for o := 0; o < out; o++ {
		g := gy[o] * s.sc
		urow := m.up[o*r : o*r+r]
		grow := m.gUp[o*r : o*r+r]
		for k := 0; k < r; k++ {
			grow[k] += g * s.mask[k] * s.v[k]
			t[k] += urow[k] * g
		}
	}
	for k := 0; k < r; k++ {
		tk := t[k] * s.mask[k]
		if tk == 0 {
			continue
		}
		grow := m.gDown[k*in : k*in+in]
		x := s.x
		if s.perRank {
			x = s.xr[k*in : k*in+in]
		}
		for i, xv := range x {
			grow[i] += tk * xv
		}
		if gx != nil {
			drow := m.down[k*in : k*in+in]
			for i := range gx {
				gx[i] += drow[i] * tk
			}
		}
	}
}

// forwardState is one sample's activations.
type forwardState struct {
	l [3]layerState
	a []float32 // silu(hidden)
	// backward buffers
	gOut, gA, gX, gC, tmp []float32
}

func newForwardState(rank int) *forwardState {
	f := &forwardState{}
	for l := 0; l < 3; l++ {
		f.l[l].ensure(moduleShapes[l][1], moduleShapes[l][0], rank)
	}
	f.a = make([]float32, hiddenDim)
	f.gOut = make([]float32, latentDim)
	f.gA = make([]float32, hiddenDim)
	f.gX = make([]float32, embDim+noiseDim)
	f.gC = make([]float32, embDim)
	f.tmp = make([]float32, max(rank, 1))
	return f
}

// forward runs the generator with the network (nil = base model alone) for
// a prompt embedding and latent; the result is in f.l[2].y.
//
// toks (the prompt's word embeddings, n×embDim) is used only in training
// with network dropout, where the text encoder's module sees each token.
func forward(base *baseModel, net *network, f *forwardState, emb, toks, z []float32, d *dropouts) []float32 {
	var mods [3]*loraModule
	if net != nil {
		mods = net.mods
	}
	copy(f.l[0].x, emb)
	if d != nil && d.network > 0 && len(toks) > 0 && mods[0] != nil {
		linearTokens(base.w[0], base.b[0], mods[0], &f.l[0], toks, d)
	} else {
		linear(base.w[0], base.b[0], mods[0], &f.l[0], d)
	}
	x1 := f.l[1].x
	for i := 0; i < embDim; i++ {
		x1[i] = overflow16(f.l[0].y[i])
	}
	copy(x1[embDim:], z)
	linear(base.w[1], base.b[1], mods[1], &f.l[1], d)
	for i, v := range f.l[1].y {
		v = overflow16(v)
		f.l[1].y[i] = v
		f.a[i] = overflow16(v * sigmoid(v))
	}
	copy(f.l[2].x, f.a)
	linear(base.w[2], base.b[2], mods[2], &f.l[2], d)
	for i, v := range f.l[2].y {
		f.l[2].y[i] = overflow16(v)
	}
	return f.l[2].y
}

// backward accumulates LoRA gradients for d(loss)/d(out) = gOut.
func backward(base *baseModel, net *network, f *forwardState, gOut []float32) {
	m := net.mods
	linearBackward(base.w[2], m[2], &f.l[2], gOut, f.gA, f.tmp)
	for i, v := range f.l[1].y {
		sg := sigmoid(v)
		f.gA[i] *= sg * (1 + v*(1-sg))
	}
	needX := m[0].enabled
	var gx []float32
	if needX {
		gx = f.gX
	}
	linearBackward(base.w[1], m[1], &f.l[1], f.gA, gx, f.tmp)
	if needX {
		copy(f.gC, f.gX[:embDim])
		linearBackward(base.w[0], m[0], &f.l[0], f.gC, nil, f.tmp)
	}
}

// decode renders a latent as an RGB image of w×h through the fixed scene
// atoms (scene.go), values in [0,1] before quantisation (clamped).
func decode(lat []float32, w, h int) []uint8 {
	pix := make([]uint8, w*h*3)
	t := atomTable(w, h)
	n := w * h
	for p := 0; p < n; p++ {
		for c := 0; c < 3; c++ {
			v := 0.5
			for a := 0; a < numAtoms; a++ {
				v += float64(lat[c*numAtoms+a]) * t[a*n+p]
			}
			pix[p*3+c] = quantize(v)
		}
	}
	return pix
}

func quantize(v float64) uint8 {
	if v != v || v <= 0 { // NaN renders black, as a NaN image does
		return 0
	}
	if v >= 1 {
		return 255
	}
	return uint8(math.Round(v * 255))
}

// encode projects an RGB image (values 0..255) onto the atoms by least
// squares: the inverse of decode for images inside its range.
func encode(pix []uint8, w, h int) []float32 {
	t := atomTable(w, h)
	n := w * h
	gram := make([]float64, numAtoms*numAtoms)
	rhs := make([]float64, numAtoms*3)
	for a := 0; a < numAtoms; a++ {
		ta := t[a*n : a*n+n]
		for b := 0; b <= a; b++ {
			tb := t[b*n : b*n+n]
			var s float64
			for p := range ta {
				s += ta[p] * tb[p]
			}
			gram[a*numAtoms+b], gram[b*numAtoms+a] = s, s
		}
		// an atom too small to hit a pixel at this size gets a zero
		// coefficient instead of a singular system
		gram[a*numAtoms+a] += 1e-9 * float64(n)
		for c := 0; c < 3; c++ {
			var s float64
			for p, v := range ta {
				s += v * (float64(pix[p*3+c])/255 - 0.5)
			}
			rhs[a*3+c] = s
		}
	}
	sol := solveSPD(gram, numAtoms, rhs, 3)
	lat := make([]float32, latentDim)
	for a := 0; a < numAtoms; a++ {
		for c := 0; c < 3; c++ {
			lat[c*numAtoms+a] = float32(sol[a*3+c])
		}
	}
	return lat
}
