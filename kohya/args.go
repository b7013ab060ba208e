package kohya

// ArgKind is the TOML type sd-scripts expects for an argument's value.
type ArgKind int

const (
	KindString     ArgKind = iota // TOML string
	KindInt                       // TOML integer
	KindFloat                     // TOML float (an integer is accepted too)
	KindBool                      // store_true flag: TOML true/false
	KindIntOrFloat                // int = absolute steps, float < 1 = ratio (lr_warmup_steps, lr_decay_steps)
	KindStringList                // nargs="*" of strings: network_args, optimizer_args, lr_scheduler_args
	KindFloatList                 // nargs="*" of floats, scalar also accepted: text_encoder_lr
)

// Arg describes one train_network.py / sdxl_train_network.py argument by its
// argparse dest name.
type Arg struct {
	Name     string
	Kind     ArgKind
	Choices  []string // argparse choices, if any
	Default  any      // argparse default; nil for None
	SDXLOnly bool     // only sdxl_train_network.py knows it
	// TrainDBOnly marks arguments users copy from DreamBooth guides that
	// train_network.py does not define (stop_text_encoder_training).
	TrainDBOnly bool
}

// LookupArg returns the argument with that dest name.
func LookupArg(name string) (Arg, bool) {
	a, ok := argIndex()[name]
	return a, ok
}

// ArgNames lists every known argument dest name, sorted.
func ArgNames() []string { return sortedArgNames() }

// NetworkArg describes a key=value entry of --network_args read by a network
// module (networks.lora unless noted).
type NetworkArg struct {
	Name string
	Kind ArgKind // KindInt, KindFloat or KindString (comma lists)
}

// LookupNetworkArg returns the network arg with that key.
func LookupNetworkArg(name string) (NetworkArg, bool) {
	for _, a := range networkArgs {
		if a.Name == name {
			return a, true
		}
	}
	return NetworkArg{}, false
}

// NetworkArgNames lists the known network arg keys.
func NetworkArgNames() []string {
	out := make([]string, len(networkArgs))
	for i, a := range networkArgs {
		out[i] = a.Name
	}
	return out
}
