// Package nvsmi discovers NVIDIA GPUs by running and parsing
// `nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.used
// --format=csv,noheader,nounits`. It knows nothing of leases or trials.
package nvsmi

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/lorasweep/lorasweep/internal/proc"
)

// queryArgs are the arguments Query passes to nvidia-smi.
var queryArgs = []string{"--query-gpu=index,uuid,name,memory.total,memory.used", "--format=csv,noheader,nounits"}

// GPU is one card as nvidia-smi lists it. Memory figures are MiB; -1 when
// nvidia-smi reports them as unavailable ([N/A]).
type GPU struct {
	Index          int    `json:"index"`
	UUID           string `json:"uuid"`
	Name           string `json:"name"`
	MemoryTotalMiB int    `json:"memory_total_mib"`
	MemoryUsedMiB  int    `json:"memory_used_mib"`
}

// ErrNotFound means the nvidia-smi binary could not be found: the machine
// has no NVIDIA driver, which is not an error for a CPU-only sweep.
var ErrNotFound = errors.New("nvidia-smi not found")

// Query runs bin (default "nvidia-smi", looked up in PATH) and parses its
// output. env is the environment to run it in (nil: the current one).
func Query(ctx context.Context, bin string, env []string) ([]GPU, error) {
	if bin == "" {
		bin = "nvidia-smi"
	}
	path, err := proc.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("query gpus: %w: %s", ErrNotFound, bin)
	}
	out, err := proc.Output(ctx, env, append([]string{path}, queryArgs...)...)
	if err != nil {
		return nil, fmt.Errorf("query gpus: %w", err)
	}
	return Parse(out)
}

// Parse reads nvidia-smi's CSV (one card per line, five fields). Blank lines
// are skipped; any other malformed line is an error naming the line, since
// guessing at GPU ids could put two trials on one card.
func Parse(data []byte) ([]GPU, error) {
	var gpus []GPU
	seen := map[int]bool{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) != 5 {
			return nil, fmt.Errorf("parse nvidia-smi output line %d %q: want 5 comma-separated fields, got %d", i+1, line, len(f))
		}
		for j := range f {
			f[j] = strings.TrimSpace(f[j])
		}
		idx, err := strconv.Atoi(f[0])
		if err != nil || idx < 0 {
			return nil, fmt.Errorf("parse nvidia-smi output line %d %q: bad index %q", i+1, line, f[0])
		}
		if seen[idx] {
			return nil, fmt.Errorf("parse nvidia-smi output line %d: index %d listed twice", i+1, idx)
		}
		seen[idx] = true
		if f[1] == "" {
			return nil, fmt.Errorf("parse nvidia-smi output line %d %q: empty uuid", i+1, line)
		}
		g := GPU{Index: idx, UUID: f[1], Name: f[2]}
		if g.MemoryTotalMiB, err = mib(f[3]); err != nil {
			return nil, fmt.Errorf("parse nvidia-smi output line %d %q: memory.total: %w", i+1, line, err)
		}
		if g.MemoryUsedMiB, err = mib(f[4]); err != nil {
			return nil, fmt.Errorf("parse nvidia-smi output line %d %q: memory.used: %w", i+1, line, err)
		}
		gpus = append(gpus, g)
	}
	return gpus, nil
}

func mib(s string) (int, error) {
	if strings.HasPrefix(s, "[") || s == "N/A" { // [N/A], [Not Supported]
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	return n, nil
}
