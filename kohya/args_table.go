package kohya

import (
	"sort"
	"sync"
)

// PLACEHOLDER: the full table of train_network.py's 193 arguments is written
// by the kohya-table work; these rows let the rest of the tree build.
var trainNetworkArgs = []Arg{
	{Name: "network_dim", Kind: KindInt},
	{Name: "network_alpha", Kind: KindFloat, Default: 1.0},
	{Name: "learning_rate", Kind: KindFloat, Default: 2e-6},
	{Name: "unet_lr", Kind: KindFloat},
	{Name: "text_encoder_lr", Kind: KindFloatList},
	{Name: "lr_scheduler", Kind: KindString, Default: "constant"},
	{Name: "lr_scheduler_num_cycles", Kind: KindInt, Default: int64(1)},
	{Name: "lr_scheduler_power", Kind: KindFloat, Default: 1.0},
	{Name: "lr_warmup_steps", Kind: KindIntOrFloat, Default: int64(0)},
	{Name: "optimizer_type", Kind: KindString, Default: ""},
	{Name: "network_dropout", Kind: KindFloat},
	{Name: "network_args", Kind: KindStringList},
	{Name: "scale_weight_norms", Kind: KindFloat},
	{Name: "train_batch_size", Kind: KindInt, Default: int64(1)},
	{Name: "max_train_epochs", Kind: KindInt},
	{Name: "max_train_steps", Kind: KindInt, Default: int64(1600)},
	{Name: "seed", Kind: KindInt},
	{Name: "resolution", Kind: KindString},
	{Name: "train_data_dir", Kind: KindString},
	{Name: "output_dir", Kind: KindString},
	{Name: "output_name", Kind: KindString},
	{Name: "save_every_n_epochs", Kind: KindInt},
	{Name: "sample_prompts", Kind: KindString},
	{Name: "sample_every_n_epochs", Kind: KindInt},
	{Name: "stop_text_encoder_training", Kind: KindInt, TrainDBOnly: true},
}

var networkArgs = []NetworkArg{
	{Name: "rank_dropout", Kind: KindFloat},
	{Name: "module_dropout", Kind: KindFloat},
	{Name: "conv_dim", Kind: KindInt},
	{Name: "conv_alpha", Kind: KindFloat},
}

var (
	argIndexOnce sync.Once
	argIndexMap  map[string]Arg
	argNameList  []string
)

func buildArgIndex() {
	argIndexMap = make(map[string]Arg, len(trainNetworkArgs))
	for _, a := range trainNetworkArgs {
		argIndexMap[a.Name] = a
		argNameList = append(argNameList, a.Name)
	}
	sort.Strings(argNameList)
}

func argIndex() map[string]Arg { argIndexOnce.Do(buildArgIndex); return argIndexMap }
func sortedArgNames() []string {
	argIndexOnce.Do(buildArgIndex)
	return append([]string(nil), argNameList...)
}
