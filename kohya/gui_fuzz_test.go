package kohya

import (
	"testing"
	"time"
)

// FuzzImportGUI hands arbitrary bytes to the kohya_ss GUI importer and, when
// they import, exports the result back to GUI JSON and through the TOML
// writer. Users load configs from anywhere; the importer may refuse them
// but must not panic or hang, and whatever it accepts must be writable.
// Seeds: testdata/fuzz/FuzzImportGUI (built from testdata/gui).
func FuzzImportGUI(f *testing.F) {
	f.Add([]byte(`{"LoRA_type": "Standard", "network_dim": 8, "network_alpha": 4, "sdxl": false}`))
	f.Add([]byte(`{"LoRA_type": "LyCORIS/LoKr", "factor": "8", "lr_warmup": 7.5, "lr_scheduler_num_cycles": "", "additional_parameters": "--lr_scheduler_type \"X\""}`))
	f.Add([]byte(`{"LoRA_type": "Kohya LoHa", "sdxl": true, "conv_dim": 4, "t5xxl_lr": 1e-5, "use_wandb": "True"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		_ = GUIIsSDXL(data)
		cfg, _, err := ImportGUI("fuzz.json", data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if _, _, err := ExportGUI(cfg, GUIIsSDXL(data)); err != nil {
			t.Logf("export refused an imported config: %v", err)
		}
		if _, err := WriteTOML(cfg); err != nil {
			t.Logf("toml writer refused an imported config: %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%d bytes took %v", len(data), d)
		}
	})
}

// FuzzParseConfigTOML hands arbitrary bytes to the base-config TOML reader
// (the other importer a spec's trainer.base goes through).
func FuzzParseConfigTOML(f *testing.F) {
	f.Add([]byte("network_dim = 8\nnetwork_alpha = 4.0\nlr_scheduler = \"cosine\"\n"))
	f.Add([]byte("[general]\nenable_bucket = true\n[[datasets]]\nresolution = 512\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		cfg, err := ParseConfigTOML("fuzz.toml", data)
		if err != nil {
			return
		}
		if _, err := WriteTOML(cfg); err != nil {
			t.Logf("toml writer refused a parsed config: %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%d bytes took %v", len(data), d)
		}
	})
}
