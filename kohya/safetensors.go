package kohya

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
)

// TensorInfo is one tensor's entry in a safetensors header. Offsets are
// relative to the start of the data section (after the header).
type TensorInfo struct {
	DType   string
	Shape   []int
	Offsets [2]int64
}

// SafetensorsHeader is the parsed JSON header of a .safetensors file: the
// tensors by name and the __metadata__ string map (ss_* keys for LoRAs).
type SafetensorsHeader struct {
	Tensors  map[string]TensorInfo
	Metadata map[string]string
}

// NamedTensor is a tensor to write: row-major float32 data of the given shape.
type NamedTensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// maxHeaderLen bounds the JSON header; the safetensors format caps it at
// 100 MB, which also protects against reading a garbage length.
const maxHeaderLen = 100 << 20

// dtypeSize returns the byte size of one element of a safetensors dtype.
func dtypeSize(dtype string) (int, bool) {
	switch dtype {
	case "F64", "I64", "U64":
		return 8, true
	case "F32", "I32", "U32":
		return 4, true
	case "F16", "BF16", "I16", "U16":
		return 2, true
	case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2":
		return 1, true
	}
	return 0, false
}

type rawTensorInfo struct {
	DType       string  `json:"dtype"`
	Shape       []int   `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// ReadSafetensorsHeader reads and validates the header of a .safetensors
// file: the 8-byte little-endian length, the JSON, each tensor's dtype and
// that its data_offsets match its shape and lie within the file.
func ReadSafetensorsHeader(path string) (SafetensorsHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return SafetensorsHeader{}, fmt.Errorf("read safetensors header: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return SafetensorsHeader{}, fmt.Errorf("read safetensors header: %w", err)
	}
	h, _, err := readHeader(f, st.Size())
	if err != nil {
		return SafetensorsHeader{}, fmt.Errorf("read safetensors header %s: %w", path, err)
	}
	return h, nil
}

// readHeader parses the header from r and returns it with the data section's
// start offset.
func readHeader(r io.Reader, fileSize int64) (SafetensorsHeader, int64, error) {
	var lenBuf [8]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return SafetensorsHeader{}, 0, fmt.Errorf("header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n < 2 || n > maxHeaderLen || int64(n)+8 > fileSize {
		return SafetensorsHeader{}, 0, fmt.Errorf("header length %d invalid for file of %d bytes", n, fileSize)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return SafetensorsHeader{}, 0, fmt.Errorf("header: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(buf, &raw); err != nil {
		return SafetensorsHeader{}, 0, fmt.Errorf("header json: %w", err)
	}
	dataStart := int64(8 + n)
	dataLen := fileSize - dataStart
	h := SafetensorsHeader{Tensors: map[string]TensorInfo{}, Metadata: map[string]string{}}
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &h.Metadata); err != nil {
				return SafetensorsHeader{}, 0, fmt.Errorf("__metadata__ must map strings to strings: %w", err)
			}
			continue
		}
		var ti rawTensorInfo
		if err := json.Unmarshal(msg, &ti); err != nil {
			return SafetensorsHeader{}, 0, fmt.Errorf("tensor %q: %w", name, err)
		}
		size, ok := dtypeSize(ti.DType)
		if !ok {
			return SafetensorsHeader{}, 0, fmt.Errorf("tensor %q: unknown dtype %q", name, ti.DType)
		}
		if len(ti.DataOffsets) != 2 {
			return SafetensorsHeader{}, 0, fmt.Errorf("tensor %q: data_offsets needs 2 values", name)
		}
		elems := int64(1)
		for _, d := range ti.Shape {
			if d < 0 {
				return SafetensorsHeader{}, 0, fmt.Errorf("tensor %q: negative dimension", name)
			}
			elems *= int64(d)
		}
		b, e := ti.DataOffsets[0], ti.DataOffsets[1]
		if b < 0 || e < b || e > dataLen {
			return SafetensorsHeader{}, 0, fmt.Errorf("tensor %q: data_offsets [%d,%d] outside data of %d bytes", name, b, e, dataLen)
		}
		if e-b != elems*int64(size) {
			return SafetensorsHeader{}, 0, fmt.Errorf("tensor %q: %d bytes for %d elements of %s", name, e-b, elems, ti.DType)
		}
		h.Tensors[name] = TensorInfo{DType: ti.DType, Shape: ti.Shape, Offsets: [2]int64{b, e}}
	}
	return h, dataStart, nil
}

// ReadSafetensors reads a whole .safetensors file and converts every F32,
// F16 and BF16 tensor to float32 (other dtypes are an error).
func ReadSafetensors(path string) (SafetensorsHeader, map[string][]float32, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return SafetensorsHeader{}, nil, fmt.Errorf("read safetensors: %w", err)
	}
	h, start, err := readHeader(bytesReader(data), int64(len(data)))
	if err != nil {
		return SafetensorsHeader{}, nil, fmt.Errorf("read safetensors %s: %w", path, err)
	}
	out := make(map[string][]float32, len(h.Tensors))
	for name, ti := range h.Tensors {
		raw := data[start+ti.Offsets[0] : start+ti.Offsets[1]]
		vals, err := decodeFloats(raw, ti.DType)
		if err != nil {
			return SafetensorsHeader{}, nil, fmt.Errorf("read safetensors %s: tensor %q: %w", path, name, err)
		}
		out[name] = vals
	}
	return h, out, nil
}

type byteReader struct {
	b []byte
	i int
}

func (r *byteReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}

func bytesReader(b []byte) io.Reader { return &byteReader{b: b} }

func decodeFloats(raw []byte, dtype string) ([]float32, error) {
	switch dtype {
	case "F32":
		out := make([]float32, len(raw)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out, nil
	case "F16":
		out := make([]float32, len(raw)/2)
		for i := range out {
			out[i] = F16ToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		return out, nil
	case "BF16":
		out := make([]float32, len(raw)/2)
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
		}
		return out, nil
	}
	return nil, fmt.Errorf("dtype %s is not a float type", dtype)
}

// WriteSafetensors writes tensors (in name order) and metadata as a
// .safetensors file with every tensor stored as dtype (F32, F16 or BF16).
// It writes a temporary file next to path and renames it, so a reader never
// sees a half-written model.
func WriteSafetensors(path string, tensors []NamedTensor, metadata map[string]string, dtype string) error {
	size, ok := dtypeSize(dtype)
	if !ok || (dtype != "F32" && dtype != "F16" && dtype != "BF16") {
		return fmt.Errorf("write safetensors: unsupported dtype %q", dtype)
	}
	sorted := append([]NamedTensor(nil), tensors...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	header := make(map[string]any, len(sorted)+1)
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var off int64
	for _, t := range sorted {
		if t.Name == "__metadata__" {
			return fmt.Errorf("write safetensors: reserved tensor name %q", t.Name)
		}
		if _, dup := header[t.Name]; dup {
			return fmt.Errorf("write safetensors: duplicate tensor %q", t.Name)
		}
		elems := 1
		for _, d := range t.Shape {
			elems *= d
		}
		if elems != len(t.Data) {
			return fmt.Errorf("write safetensors: tensor %q has %d values for shape %v", t.Name, len(t.Data), t.Shape)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		n := int64(elems * size)
		header[t.Name] = rawTensorInfo{DType: dtype, Shape: shape, DataOffsets: []int64{off, off + n}}
		off += n
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("write safetensors: %w", err)
	}
	// Pad the header with spaces to a multiple of 8 so the data is aligned,
	// as the reference implementation does.
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	buf := make([]byte, 8, 8+len(hj)+int(off))
	binary.LittleEndian.PutUint64(buf, uint64(len(hj)))
	buf = append(buf, hj...)
	for _, t := range sorted {
		for _, v := range t.Data {
			switch dtype {
			case "F32":
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			case "F16":
				buf = binary.LittleEndian.AppendUint16(buf, Float32ToF16(v))
			case "BF16":
				buf = binary.LittleEndian.AppendUint16(buf, Float32ToBF16(v))
			}
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write safetensors: %w", err)
	}
	if _, err := tmp.Write(buf); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write safetensors: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write safetensors: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write safetensors: %w", err)
	}
	return nil
}

// Float32ToBF16 rounds f to bfloat16 (round to nearest even), as torch does;
// NaN stays NaN.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if f != f {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// Float32ToF16 rounds f to IEEE half precision (round to nearest even);
// values beyond the half range become ±Inf, as a cast in torch does.
func Float32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int((b >> 23) & 0xff)
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := mant >> shift
		rem := mant & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	half := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++ // may carry into the exponent, which is the correct rounding
	}
	return sign | uint16(half)
}

// F16ToFloat32 widens an IEEE half to float32 exactly.
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// subnormal: normalise
		e := int32(-14)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | uint32(e+127)<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp-15+127)<<23 | mant<<13)
}

// BF16ToFloat32 widens a bfloat16 to float32 exactly.
func BF16ToFloat32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }
