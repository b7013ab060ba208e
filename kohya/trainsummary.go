package kohya

import (
	"regexp"
	"strconv"
)

// batchesRE reads the summary line sd-scripts prints before training:
// `  num batches per epoch / 1epochのバッチ数: 40`.
var batchesRE = regexp.MustCompile(`num batches per epoch / [^:]*:\s*(\d+)`)

// BatchesPerEpoch reads the number of dataloader batches one epoch has from
// sd-scripts' training summary line; ok is false for any other line. With
// gradient accumulation an epoch has ⌈batches / gradient_accumulation_steps⌉
// optimizer steps.
func BatchesPerEpoch(line string) (n int, ok bool) {
	m := batchesRE.FindStringSubmatch(line)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil && n > 0
}
