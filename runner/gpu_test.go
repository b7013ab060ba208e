package runner

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestRealGPUs runs against the machine's real nvidia-smi: every lease of
// the pool starts one process at once (through Run, as a trial would) that
// reports the UUIDs CUDA gives it; each must see exactly its own cards.
// It runs only with LORASWEEP_GPU_CHECK=1 (scripts/gpu-check.sh sets it).
func TestRealGPUs(t *testing.T) {
	if os.Getenv("LORASWEEP_GPU_CHECK") != "1" {
		t.Skip("set LORASWEEP_GPU_CHECK=1 on a machine with NVIDIA GPUs (scripts/gpu-check.sh)")
	}
	if _, err := exec.LookPath("nvidia-smi"); err != nil {
		t.Fatalf("nvidia-smi: %v", err)
	}
	script, _ := filepath.Abs(filepath.Join("testdata", "cuda_uuid.py"))
	p, err := NewPool(context.Background(), PoolConfig{
		Trainer: TrainerSpec{Kind: KindCommand, Command: []string{python, "-u", script}},
		GPUs:    GPUSpec{Mode: GPUsAuto, PerGPU: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	slots := p.Slots()
	if len(slots) == 0 || slots[0].CPU {
		t.Fatalf("no GPU slots: %v", p.Notes())
	}
	for _, g := range p.Found() {
		t.Logf("found GPU %d %s %s (%d/%d MiB used)", g.Index, g.Name, g.UUID, g.MemoryUsedMiB, g.MemoryTotalMiB)
	}
	var leases []*Lease
	for range slots {
		l, err := p.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, l)
	}
	var wg sync.WaitGroup
	for i, l := range leases {
		wg.Add(1)
		go func(i int, l *Lease) {
			defer wg.Done()
			defer l.Release()
			dir := filepath.Join(t.TempDir(), "t")
			out := p.Run(context.Background(), l, Job{Number: i, Dir: dir}, nil)
			log, _ := os.ReadFile(out.LogPath)
			var seen []string
			for _, line := range strings.Split(string(log), "\n") {
				if u, ok := strings.CutPrefix(line, "uuid: "); ok {
					seen = append(seen, u)
				}
			}
			want := p.slots[l.Slot()].UUIDs
			if !out.OK || strings.Join(seen, ",") != strings.Join(want, ",") {
				t.Errorf("slot %d (CUDA_VISIBLE_DEVICES=%s): CUDA sees %v, want %v (ok=%v %s)\n%s", l.Slot(), strings.Join(l.GPUs(), ","), seen, want, out.OK, out.Detail, log)
				return
			}
			t.Logf("slot %d CUDA_VISIBLE_DEVICES=%s sees only %v", l.Slot(), strings.Join(l.GPUs(), ","), seen)
		}(i, l)
	}
	wg.Wait()
}
