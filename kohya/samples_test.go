package kohya

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func i64(v int64) *int64 { return &v }

func TestParsePromptLine(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Prompt
	}{
		{"plain", "a cat", Prompt{Text: "a cat"}},
		{"all options", "zkx toy, on grass --n blurry, low quality --w 512 --h 768 --d 42 --s 28 --l 7.5 --ss euler_a",
			Prompt{Text: "zkx toy, on grass", Negative: "blurry, low quality", Width: 512, Height: 768, Seed: i64(42), Steps: 28, Scale: 7.5, Sampler: "euler_a"}},
		{"upper case options", "dog --W 64 --D 7", Prompt{Text: "dog", Width: 64, Seed: i64(7)}},
		{"steps clamped", "dog --s 5000", Prompt{Text: "dog", Steps: 1000}},
		{"unknown option ignored", "dog --g 3.5 --w 32", Prompt{Text: "dog", Width: 32}},
		{"dashes without space stay in text", "a--b --w 8", Prompt{Text: "a--b", Width: 8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ParsePromptLine(tc.line)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if back := ParsePromptLine(FormatPromptLine(got)); !reflect.DeepEqual(back, got) {
				t.Errorf("format round trip: %q → %+v", FormatPromptLine(got), back)
			}
		})
	}
}

func TestParsePromptFile(t *testing.T) {
	tests := []struct {
		name, file, content string
		want                []Prompt
		wantErr             bool
	}{
		{"txt skips blanks and comments", "p.txt", "# header\n\na --d 1\n  \nb --w 64\r\n",
			[]Prompt{{Index: 0, Text: "a", Seed: i64(1)}, {Index: 1, Text: "b", Width: 64}}, false},
		{"toml merges defaults", "p.toml", "[prompt]\nwidth = 32\nheight = 32\n[[prompt.subset]]\nprompt = \"a\"\nseed = 5\n[[prompt.subset]]\nprompt = \"b\"\nscale = 4.5\n",
			[]Prompt{{Index: 0, Text: "a", Width: 32, Height: 32, Seed: i64(5)}, {Index: 1, Text: "b", Width: 32, Height: 32, Scale: 4.5}}, false},
		{"toml duplicate key errors", "p.toml", "[prompt]\nwidth = 32\n[[prompt.subset]]\nprompt = \"a\"\nwidth = 64\n", nil, true},
		{"json objects and lines", "p.json", `[{"prompt": "a", "seed": 3, "negative_prompt": "x"}, "b --h 16"]`,
			[]Prompt{{Index: 0, Text: "a", Seed: i64(3), Negative: "x"}, {Index: 1, Text: "b", Height: 16}}, false},
		{"other extension", "p.yaml", "a", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ParsePromptFile(path)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSampleFileNames(t *testing.T) {
	tests := []struct {
		name string
		n    SampleName
		file string
	}{
		{"epoch with seed", SampleName{OutputName: "mylora", Epoch: 3, PromptIndex: 0, Timestamp: "20250101120000", Seed: 42, HasSeed: true}, "mylora_e000003_00_20250101120000_42.png"},
		{"step without seed", SampleName{OutputName: "mylora", Step: 500, ByStep: true, PromptIndex: 1, Timestamp: "20250101120000"}, "mylora_000500_01_20250101120000.png"},
		{"no output name", SampleName{Epoch: 0, PromptIndex: 12, Timestamp: "20250101120000"}, "e000000_12_20250101120000.png"},
		{"name with underscores", SampleName{OutputName: "a_b-v1", Epoch: 10, PromptIndex: 2, Timestamp: "20240819160839", Seed: 7, HasSeed: true}, "a_b-v1_e000010_02_20240819160839_7.png"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SampleFileName(tc.n); got != tc.file {
				t.Fatalf("SampleFileName = %q, want %q", got, tc.file)
			}
			back, ok := ParseSampleName(filepath.Join("out", "sample", tc.file), tc.n.OutputName)
			if !ok || back != tc.n {
				t.Errorf("ParseSampleName = %+v, %v; want %+v", back, ok, tc.n)
			}
		})
	}
	for _, bad := range []string{"other_e000001_00_20250101120000.png", "mylora_e000001_00_2025.png", "mylora.safetensors"} {
		if _, ok := ParseSampleName(bad, "mylora"); ok {
			t.Errorf("ParseSampleName(%q) accepted", bad)
		}
	}
}

func TestCheckpointName(t *testing.T) {
	tests := []struct {
		name, out, ext, want string
		epoch                int
	}{
		{"named", "mylora", "safetensors", "mylora-000002.safetensors", 2},
		{"dot ext", "mylora", ".safetensors", "mylora-000010.safetensors", 10},
		{"unnamed", "", "safetensors", "epoch-000002.safetensors", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CheckpointName(tc.out, tc.epoch, tc.ext); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSampleOutputName(t *testing.T) {
	for _, tc := range []struct {
		file, name string
		ok         bool
	}{
		{"my_lora_e000002_00_20240101120000_7.png", "my_lora", true},
		{"trial-0001_000400_01_20240101120000.png", "trial-0001", true},
		{"e000002_00_20240101120000_77.png", "", false},
		{"000400_00_20240101120000.png", "", false},
		{"notes.txt", "", false},
	} {
		name, ok := SampleOutputName(tc.file)
		if name != tc.name || ok != tc.ok {
			t.Errorf("SampleOutputName(%q) = %q %v, want %q %v", tc.file, name, ok, tc.name, tc.ok)
		}
	}
}
