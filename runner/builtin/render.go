package builtin

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/lorasweep/lorasweep/kohya"
)

const maxSampleSide = 256

// sampleSize applies the builtin's size rules: the prompt's --w/--h, else
// the training resolution; floored to a multiple of 8 (min 8, max 256).
func sampleSize(p kohya.Prompt, defW, defH int) (int, int) {
	fix := func(v, def int) int {
		if v <= 0 {
			v = def
		}
		v = v / 8 * 8
		return min(maxSampleSide, max(8, v))
	}
	return fix(p.Width, defW), fix(p.Height, defH)
}

// sampleSeed is the prompt's --d, else ss_seed + index.
func sampleSeed(p kohya.Prompt, trainSeed int64) (int64, bool) {
	if p.Seed != nil {
		return *p.Seed, true
	}
	return trainSeed + int64(p.Index), false
}

// renderPNG renders one prompt with the base model plus net (nil: base
// alone) and encodes it as PNG.
func renderPNG(enc *png.Encoder, base *baseModel, net *network, text string, seed int64, w, h int) ([]byte, error) {
	f := newForwardState(rankOf(net))
	lat := forward(base, net, f, promptEmbedding(text), nil, seedNoise(seed), nil)
	return latentPNG(enc, lat, w, h)
}

// pngBuffers keeps one encoder buffer for a sequence of encodes (one run's
// samples): the compressor's state is large and the output does not depend
// on reuse.
type pngBuffers struct{ b *png.EncoderBuffer }

func (p *pngBuffers) Get() *png.EncoderBuffer  { return p.b }
func (p *pngBuffers) Put(b *png.EncoderBuffer) { p.b = b }

func newPNGEncoder() *png.Encoder { return &png.Encoder{BufferPool: &pngBuffers{}} }

// latentPNG decodes a latent and encodes the image as PNG (image/png is
// deterministic for equal pixels).
func latentPNG(enc *png.Encoder, lat []float32, w, h int) ([]byte, error) {
	pix := decode(lat, w, h)
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		copy(img.Pix[4*i:4*i+3], pix[3*i:3*i+3])
		img.Pix[4*i+3] = 255
	}
	var buf bytes.Buffer
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), nil
}

func rankOf(n *network) int {
	if n == nil {
		return 1
	}
	r := 1
	for _, m := range n.mods {
		if m != nil && m.rank > r {
			r = m.rank
		}
	}
	return r
}

// networkTensors lists the enabled modules' tensors in kohya's naming.
func networkTensors(n *network) []kohya.NamedTensor {
	var out []kohya.NamedTensor
	for _, m := range n.mods {
		if !m.enabled {
			continue
		}
		out = append(out,
			kohya.NamedTensor{Name: m.name + ".lora_down.weight", Shape: []int{m.rank, m.in}, Data: append([]float32(nil), m.down...)},
			kohya.NamedTensor{Name: m.name + ".lora_up.weight", Shape: []int{m.out, m.rank}, Data: append([]float32(nil), m.up...)},
			kohya.NamedTensor{Name: m.name + ".alpha", Shape: []int{}, Data: []float32{m.alpha}},
		)
	}
	return out
}

// roundTensors rounds every value to dtype and back, as saving and loading
// the file does.
func roundTensors(ts []kohya.NamedTensor, dtype string) {
	for _, t := range ts {
		for i, v := range t.Data {
			switch dtype {
			case "F16":
				t.Data[i] = kohya.F16ToFloat32(kohya.Float32ToF16(v))
			case "BF16":
				t.Data[i] = kohya.BF16ToFloat32(kohya.Float32ToBF16(v))
			}
		}
	}
}

// networkFromTensors builds a network from kohya-named tensors (as loaded
// from a file). Modules absent from the map are disabled.
func networkFromTensors(ts map[string][]float32, hdr map[string]kohya.TensorInfo) (*network, error) {
	n := &network{}
	any := false
	for l, name := range moduleNames {
		out, in := moduleShapes[l][0], moduleShapes[l][1]
		m := &loraModule{idx: l, name: name, in: in, out: out, rank: 1}
		n.mods[l] = m
		down, okD := ts[name+".lora_down.weight"]
		up, okU := ts[name+".lora_up.weight"]
		if !okD || !okU {
			m.down, m.up = make([]float32, in), make([]float32, out)
			m.gDown, m.gUp = make([]float32, in), make([]float32, out)
			continue
		}
		shape := hdr[name+".lora_down.weight"].Shape
		if len(shape) != 2 || shape[1] != in || len(down) != shape[0]*in || len(up) != out*shape[0] {
			return nil, fmt.Errorf("module %s: shapes do not fit the builtin base model", name)
		}
		m.rank = shape[0]
		m.down, m.up = down, up
		m.gDown, m.gUp = make([]float32, len(down)), make([]float32, len(up))
		m.alpha = float32(m.rank)
		if a, ok := ts[name+".alpha"]; ok && len(a) == 1 && a[0] != 0 {
			m.alpha = a[0]
		}
		m.enabled = true
		any = true
	}
	if !any {
		return nil, fmt.Errorf("no LoRA modules of the builtin model found")
	}
	return n, nil
}

// Render re-renders the sample prompts of promptsPath with the frozen base
// model plus the LoRA in loraPath alone, writing PNGs into outDir named as
// the trainer names its samples (output name and epoch from the file's
// ss_output_name and ss_epoch). Seeds, sizes and pixels follow the trainer's
// sampling exactly, so each image equals the trainer's own sample of that
// prompt at that epoch byte for byte. It returns the written paths in prompt
// order.
func Render(loraPath, promptsPath, outDir string) ([]string, error) {
	hdr, ts, err := kohya.ReadSafetensors(loraPath)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	net, err := networkFromTensors(ts, hdr.Tensors)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", loraPath, err)
	}
	prompts, err := kohya.ParsePromptFile(promptsPath)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	md := hdr.Metadata
	seed, _ := strconv.ParseInt(md["ss_seed"], 10, 64)
	epoch, _ := strconv.Atoi(md["ss_epoch"])
	resW, resH := 32, 32
	if r := md["ss_resolution"]; r != "" {
		var w, h int
		if _, err := fmt.Sscanf(r, "(%d, %d)", &w, &h); err == nil && w > 0 && h > 0 {
			resW, resH = w, h
		}
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	base := newBaseModel()
	enc := newPNGEncoder()
	ts0 := time.Now().Format("20060102150405")
	var paths []string
	for _, p := range prompts {
		s, has := sampleSeed(p, seed)
		w, h := sampleSize(p, resW, resH)
		data, err := renderPNG(enc, base, net, p.Text, s, w, h)
		if err != nil {
			return nil, fmt.Errorf("render prompt %d: %w", p.Index, err)
		}
		outName := md["ss_output_name"]
		if outName == "None" {
			outName = ""
		}
		name := kohya.SampleFileName(kohya.SampleName{OutputName: outName, Epoch: epoch,
			PromptIndex: p.Index, Timestamp: ts0, Seed: s, HasSeed: has})
		path := filepath.Join(outDir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return nil, fmt.Errorf("render: %w", err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}
