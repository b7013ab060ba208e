package kohya

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReadSafetensorsRoundTrip(t *testing.T) {
	tensors := []NamedTensor{
		{Name: "lora_unet_x.lora_up.weight", Shape: []int{2, 3}, Data: []float32{0, 1, -2, 0.1, 65504, -1e-3}},
		{Name: "lora_unet_x.alpha", Shape: []int{}, Data: []float32{4}},
		{Name: "lora_te_y.lora_down.weight", Shape: []int{1, 2}, Data: []float32{float32(math.NaN()), 3.5}},
	}
	meta := map[string]string{"ss_network_dim": "2", "ss_training_comment": `quote " and ünïcode`}
	tests := []struct {
		dtype string
		size  int
		tol   float64
	}{
		{"F32", 4, 0},
		{"F16", 2, 1e-3},
		{"BF16", 2, 8e-3},
	}
	for _, tc := range tests {
		t.Run(tc.dtype, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.safetensors")
			if err := WriteSafetensors(path, tensors, meta, tc.dtype); err != nil {
				t.Fatal(err)
			}
			// independent reading of the layout
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			n := binary.LittleEndian.Uint64(raw[:8])
			if n%8 != 0 {
				t.Errorf("header length %d not padded to 8", n)
			}
			var hdr map[string]any
			if err := json.Unmarshal(raw[8:8+n], &hdr); err != nil {
				t.Fatal(err)
			}
			if uint64(len(raw)) != 8+n+uint64(tc.size*(6+1+2)) {
				t.Errorf("file size %d, want %d", len(raw), 8+n+uint64(tc.size*9))
			}
			h, vals, err := ReadSafetensors(path)
			if err != nil {
				t.Fatal(err)
			}
			if h.Metadata["ss_training_comment"] != meta["ss_training_comment"] {
				t.Errorf("metadata %q", h.Metadata["ss_training_comment"])
			}
			for _, in := range tensors {
				ti := h.Tensors[in.Name]
				if ti.DType != tc.dtype || len(ti.Shape) != len(in.Shape) {
					t.Errorf("%s: info %+v", in.Name, ti)
				}
				for i, want := range in.Data {
					got := vals[in.Name][i]
					if math.IsNaN(float64(want)) {
						if !math.IsNaN(float64(got)) {
							t.Errorf("%s[%d]: NaN became %v", in.Name, i, got)
						}
						continue
					}
					if d := math.Abs(float64(got - want)); d > tc.tol*math.Max(1, math.Abs(float64(want))) {
						t.Errorf("%s[%d] = %v, want %v", in.Name, i, got, want)
					}
				}
			}
			hh, err := ReadSafetensorsHeader(path)
			if err != nil || len(hh.Tensors) != 3 {
				t.Errorf("header only: %v, %d tensors", err, len(hh.Tensors))
			}
		})
	}
}

func TestHalfConversions(t *testing.T) {
	tests := []struct {
		name string
		in   float32
		f16  uint16
		bf16 uint16
	}{
		{"one", 1, 0x3C00, 0x3F80},
		{"tenth", 0.1, 0x2E66, 0x3DCD},
		{"half max", 65504, 0x7BFF, 0x4780}, // bf16 rounds 0x477FE000 up
		{"overflow", 65520, 0x7C00, 0x4780},
		{"smallest subnormal", 5.9604645e-8, 0x0001, 0x3380},
		{"underflow", 1e-8, 0x0000, 0x322C},
		{"negative", -2, 0xC000, 0xC000},
		{"inf", float32(math.Inf(1)), 0x7C00, 0x7F80},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Float32ToF16(tc.in); got != tc.f16 {
				t.Errorf("f16 %#04x, want %#04x", got, tc.f16)
			}
			if got := Float32ToBF16(tc.in); got != tc.bf16 {
				t.Errorf("bf16 %#04x, want %#04x", got, tc.bf16)
			}
		})
	}
	for h := 0; h < 0x7C00; h++ { // every finite positive half survives a round trip
		if back := Float32ToF16(F16ToFloat32(uint16(h))); back != uint16(h) {
			t.Fatalf("half %#04x → %v → %#04x", h, F16ToFloat32(uint16(h)), back)
		}
	}
}

func TestReadSafetensorsHeaderRejectsBadFiles(t *testing.T) {
	header := func(s string) []byte {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint64(b, uint64(len(s)))
		return append(b, s...)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"too short", []byte{1, 2, 3}},
		{"length beyond file", append(header(`{}`)[:8], '{')},
		{"not json", header(`{not json}`)},
		{"offsets beyond data", header(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`)},
		{"size mismatch", append(header(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`), make([]byte, 8)...)},
		{"unknown dtype", append(header(`{"a":{"dtype":"F13","shape":[1],"data_offsets":[0,2]}}`), 0, 0)},
		{"metadata not strings", header(`{"__metadata__":{"x":1}}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.safetensors")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadSafetensorsHeader(path); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestWriteSafetensorsRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		tensors []NamedTensor
		dtype   string
	}{
		{"shape mismatch", []NamedTensor{{Name: "a", Shape: []int{2}, Data: []float32{1}}}, "F32"},
		{"duplicate", []NamedTensor{{Name: "a", Shape: []int{1}, Data: []float32{1}}, {Name: "a", Shape: []int{1}, Data: []float32{1}}}, "F32"},
		{"dtype", []NamedTensor{{Name: "a", Shape: []int{1}, Data: []float32{1}}}, "I8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".safetensors")
			if err := WriteSafetensors(path, tc.tensors, nil, tc.dtype); err == nil {
				t.Error("no error")
			}
			if _, err := os.Stat(path); err == nil {
				t.Error("file written despite the error")
			}
		})
	}
}
