package kohya

import (
	"strings"
	"testing"
)

func TestArgTable(t *testing.T) {
	names := ArgNames()
	// 193 train_network.py arguments + 3 sdxl_train_network.py extras + the
	// DreamBooth-only stop_text_encoder_training.
	if len(names) != 197 {
		t.Errorf("ArgNames() has %d names, want 197", len(names))
	}
	tests := []struct {
		name    string
		kind    ArgKind
		def     any
		sdxl    bool
		dbOnly  bool
		choices int
	}{
		{"network_args", KindStringList, nil, false, false, 0},
		{"optimizer_args", KindStringList, nil, false, false, 0},
		{"text_encoder_lr", KindFloatList, nil, false, false, 0},
		{"base_weights_multiplier", KindFloatList, nil, false, false, 0},
		{"lr_warmup_steps", KindIntOrFloat, int64(0), false, false, 0},
		{"lr_decay_steps", KindIntOrFloat, int64(0), false, false, 0},
		{"resolution", KindString, nil, false, false, 0},
		{"max_train_steps", KindInt, int64(1600), false, false, 0},
		{"learning_rate", KindFloat, 2e-6, false, false, 0},
		{"network_alpha", KindFloat, 1.0, false, false, 0},
		{"xformers", KindBool, false, false, false, 0},
		{"mixed_precision", KindString, "no", false, false, 3},
		{"max_token_length", KindInt, nil, false, false, 2},
		{"save_model_as", KindString, "safetensors", false, false, 3},
		{"dataset_config", KindString, nil, false, false, 0},
		{"cache_text_encoder_outputs", KindBool, false, true, false, 0},
		{"stop_text_encoder_training", KindInt, nil, false, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok := LookupArg(tt.name)
			if !ok {
				t.Fatalf("LookupArg(%q) not found", tt.name)
			}
			if a.Kind != tt.kind || a.Default != tt.def || a.SDXLOnly != tt.sdxl || a.TrainDBOnly != tt.dbOnly || len(a.Choices) != tt.choices {
				t.Errorf("got %+v", a)
			}
		})
	}
	if _, ok := LookupArg("netwrok_dim"); ok {
		t.Error("LookupArg found a misspelled name")
	}
	for _, n := range []string{"conv_dim", "rank_dropout", "loraplus_unet_lr_ratio", "preset", "algo", "unit"} {
		if _, ok := LookupNetworkArg(n); !ok {
			t.Errorf("LookupNetworkArg(%q) not found", n)
		}
	}
	// Every default must already pass its own check.
	for _, n := range names {
		a, _ := LookupArg(n)
		if err := CheckValue(a, a.Default); err != nil {
			t.Errorf("default of %s fails CheckValue: %v", n, err)
		}
	}
}

func TestCheckValue(t *testing.T) {
	arg := func(name string) Arg {
		a, ok := LookupArg(name)
		if !ok {
			t.Fatalf("no arg %s", name)
		}
		return a
	}
	tests := []struct {
		name    string
		arg     string
		value   any
		wantErr string // substring; "" means valid
	}{
		{"resolution string pair", "resolution", "512,768", ""},
		{"resolution single size", "resolution", "1024", ""},
		{"resolution int crashes sd-scripts", "resolution", int64(512), `write resolution = "512,512"`},
		{"resolution garbage", "resolution", "512x512", "positive integers"},
		{"resolution three parts", "resolution", "1,2,3", "3 parts"},
		{"int for float is fine", "learning_rate", int64(1), ""},
		{"float for float", "learning_rate", 1e-4, ""},
		{"quoted float stays a string", "learning_rate", "1e-4", "without quotes"},
		{"int", "network_dim", int64(32), ""},
		{"float for int", "network_dim", 32.0, "write 32 without a decimal point"},
		{"string for int", "network_dim", "32", "must be an integer"},
		{"warmup steps int", "lr_warmup_steps", int64(100), ""},
		{"warmup ratio", "lr_warmup_steps", 0.1, ""},
		{"warmup float above one is a ratio", "lr_warmup_steps", 100.0, "ratio of the total steps"},
		{"warmup exactly one", "lr_warmup_steps", 1.0, "write 1 for a number of steps"},
		{"warmup negative", "lr_warmup_steps", int64(-1), "negative"},
		{"warmup string percent", "lr_warmup_steps", "10%", "integer number of steps or a float ratio"},
		{"flag", "xformers", true, ""},
		{"flag as string", "xformers", "true", "true or false"},
		{"choice ok", "mixed_precision", "bf16", ""},
		{"choice typo suggests", "mixed_precision", "bf61", `did you mean "bf16"`},
		{"int choice ok", "max_token_length", int64(225), ""},
		{"int choice bad", "max_token_length", int64(75), "not one of 150, 225"},
		{"network_args list", "network_args", []any{"conv_dim=4", "conv_alpha=1"}, ""},
		{"network_args Go strings", "network_args", []string{"rank_dropout=0.1"}, ""},
		{"network_args scalar", "network_args", "conv_dim=4", "must be a list"},
		{"network_args without =", "network_args", []any{"conv_dim"}, "not key=value"},
		{"network_args number entry", "network_args", []any{int64(4)}, "must be a string"},
		{"base_weights plain paths", "base_weights", []any{"a.safetensors"}, ""},
		{"text_encoder_lr scalar", "text_encoder_lr", 1e-5, ""},
		{"text_encoder_lr list", "text_encoder_lr", []any{1e-5, 2e-5}, ""},
		{"text_encoder_lr string list", "text_encoder_lr", []any{"1e-5"}, "must be a number"},
		{"multiplier scalar", "base_weights_multiplier", 0.5, "must be a list"},
		{"nil is unset", "network_dim", nil, ""},
		{"string for string", "optimizer_type", "AdamW8bit", ""},
		{"number for string", "output_name", int64(3), "must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckValue(arg(tt.arg), tt.value)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("CheckValue(%s, %#v) = %v, want nil", tt.arg, tt.value, err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("CheckValue(%s, %#v) = nil, want error containing %q", tt.arg, tt.value, tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("CheckValue(%s, %#v) = %q, want it to contain %q", tt.arg, tt.value, err, tt.wantErr)
			}
		})
	}
}
