// Package kohya holds what lorasweep knows about kohya-ss sd-scripts and the
// kohya_ss GUI: the table of train_network.py arguments and network args,
// reading and writing the flat --config_file TOML, mapping the GUI's config
// JSON both ways, parsing the trainer's console log, sample and checkpoint file
// names, the LR scheduler formulas and safetensors headers and metadata.
//
// It is a leaf: it knows nothing of studies, Goptuna, SQL or processes.
package kohya
