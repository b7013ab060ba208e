package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeSMI writes an nvidia-smi that prints out (exit status code).
func fakeSMI(t *testing.T, out string, code int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nvidia-smi")
	body := "#!/bin/sh\ncat <<'EOF'\n" + out + "EOF\nexit " + string(rune('0'+code)) + "\n"
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

const fourCards = `0, GPU-aaaa, NVIDIA GeForce RTX 4090, 24564, 2
1, GPU-bbbb, NVIDIA GeForce RTX 4090, 24564, 18000
2, GPU-cccc, NVIDIA GeForce RTX 3090, 24576, 300
3, GPU-dddd, NVIDIA GeForce RTX 3090, 24576, 5
`

func TestPoolSlots(t *testing.T) {
	for _, tc := range []struct {
		name     string
		smi      string // "" = missing binary
		code     int
		kind     string
		gpus     GPUSpec
		parallel int
		cpus     int      // CPU cores the pool is told the machine has (default 4)
		want     []string // each slot's GPUs joined by "+"
		wantErr  string
		noteHas  string
	}{
		{name: "auto skips the busy card", smi: fourCards, gpus: GPUSpec{Mode: GPUsAuto}, want: []string{"0", "2", "3"}, noteHas: "GPU 1"},
		{name: "list uses the busy card as asked", smi: fourCards, gpus: GPUSpec{Mode: GPUsList, IDs: []int{1, 3}}, want: []string{"1", "3"}, noteHas: "using it as asked"},
		{name: "list of a missing card", smi: fourCards, gpus: GPUSpec{Mode: GPUsList, IDs: []int{7}}, wantErr: "GPU 7 does not exist"},
		{name: "per_gpu", smi: fourCards, gpus: GPUSpec{Mode: GPUsList, IDs: []int{0, 2}, PerGPU: 2}, want: []string{"0", "0", "2", "2"}},
		{name: "per_gpu capped by parallel spreads over cards", smi: fourCards, gpus: GPUSpec{Mode: GPUsList, IDs: []int{0, 2}, PerGPU: 2}, parallel: 2, want: []string{"0", "2"}},
		{name: "gpus_per_trial", smi: fourCards, gpus: GPUSpec{Mode: GPUsAuto, PerTrial: 2}, want: []string{"0+2"}, noteHas: "left over"},
		{name: "parallel caps", smi: fourCards, gpus: GPUSpec{Mode: GPUsAuto}, parallel: 1, want: []string{"0"}},
		{name: "missing binary gives CPU slots", gpus: GPUSpec{Mode: GPUsAuto}, parallel: 2, want: []string{"cpu0", "cpu1"}, noteHas: "not found"},
		{name: "missing binary with a list is an error", gpus: GPUSpec{Mode: GPUsList, IDs: []int{0}}, wantErr: "nvidia-smi not found"},
		{name: "garbage output", smi: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n", gpus: GPUSpec{Mode: GPUsAuto}, wantErr: "parse nvidia-smi"},
		{name: "nvidia-smi fails", smi: "oops\n", code: 9, gpus: GPUSpec{Mode: GPUsAuto}, wantErr: "exit status 9"},
		{name: "none", smi: fourCards, gpus: GPUSpec{Mode: GPUsNone}, want: []string{"cpu0"}},
		{name: "builtin is CPU", smi: fourCards, kind: KindBuiltin, gpus: GPUSpec{Mode: GPUsAuto}, parallel: 3, want: []string{"cpu0", "cpu1", "cpu2"}},
		{name: "parallel never exceeds the cores", kind: KindBuiltin, gpus: GPUSpec{Mode: GPUsNone}, parallel: 8, cpus: 2, want: []string{"cpu0", "cpu1"}, noteHas: "machine has 2 CPU cores"},
		{name: "builtin defaults to one slot a core", kind: KindBuiltin, gpus: GPUSpec{Mode: GPUsNone}, cpus: 3, want: []string{"cpu0", "cpu1", "cpu2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			smi := filepath.Join(t.TempDir(), "no-nvidia-smi")
			if tc.smi != "" {
				smi = fakeSMI(t, tc.smi, tc.code)
			}
			kind := tc.kind
			if kind == "" {
				kind = KindKohya
			}
			cpus := tc.cpus
			if cpus == 0 {
				cpus = 4
			}
			p, err := NewPool(context.Background(), PoolConfig{Trainer: TrainerSpec{Kind: kind}, GPUs: tc.gpus, Parallel: tc.parallel, CPUs: cpus, NvidiaSMI: smi, Env: []string{"PATH=/usr/bin:/bin"}})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range p.Slots() {
				got = append(got, strings.Join(s.GPUs, "+"))
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("slots %v, want %v", got, tc.want)
			}
			if tc.noteHas != "" && !strings.Contains(strings.Join(p.Notes(), "\n"), tc.noteHas) {
				t.Errorf("notes %q, want one containing %q", p.Notes(), tc.noteHas)
			}
		})
	}
}

func TestLeaseEnv(t *testing.T) {
	p, err := NewPool(context.Background(), PoolConfig{Trainer: TrainerSpec{Kind: KindKohya}, GPUs: GPUSpec{Mode: GPUsAuto, PerTrial: 2},
		NvidiaSMI: fakeSMI(t, fourCards, 0), Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := p.Acquire(context.Background())
	defer l.Release()
	if got := strings.Join(l.Env(), " "); got != "CUDA_DEVICE_ORDER=PCI_BUS_ID CUDA_VISIBLE_DEVICES=0,2" {
		t.Errorf("lease env %q", got)
	}
}

// TestAcquireExclusive runs many trials through a two-slot pool: never more
// than two at once, never two on one slot.
func TestAcquireExclusive(t *testing.T) {
	p, err := NewPool(context.Background(), PoolConfig{Trainer: TrainerSpec{Kind: KindKohya}, GPUs: GPUSpec{Mode: GPUsList, IDs: []int{0, 3}},
		NvidiaSMI: fakeSMI(t, fourCards, 0), Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	holding := map[string]bool{}
	var running, peak atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := p.Acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			g := l.GPUs()[0]
			mu.Lock()
			if holding[g] {
				t.Errorf("GPU %s leased twice", g)
			}
			holding[g] = true
			mu.Unlock()
			n := running.Add(1)
			for {
				old := peak.Load()
				if n <= old || peak.CompareAndSwap(old, n) {
					break
				}
			}
			time.Sleep(2 * time.Millisecond)
			running.Add(-1)
			mu.Lock()
			holding[g] = false
			mu.Unlock()
			l.Release()
			l.Release() // a second release must not free a slot twice
		}()
	}
	wg.Wait()
	if peak.Load() != 2 {
		t.Errorf("peak parallelism %d, want 2", peak.Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	a, _ := p.Acquire(ctx)
	b, _ := p.Acquire(ctx)
	if _, err := p.Acquire(ctx); err == nil {
		t.Error("third Acquire on a two-slot pool did not block until ctx ended")
	}
	a.Release()
	b.Release()
}

func TestStripSecrets(t *testing.T) {
	got := StripSecrets([]string{"PATH=/bin", "PGPASSWORD=x", "LORASWEEP_STORAGE=postgres://u:p@h/db", "AWS_SECRET_ACCESS_KEY=k", "HF_TOKEN=hf", "GITHUB_TOKEN=g", "HOME=/root"})
	if strings.Join(got, " ") != "PATH=/bin HF_TOKEN=hf HOME=/root" {
		t.Errorf("StripSecrets = %q", got)
	}
}

// TestHostLeases: pools sharing a lease folder behave as two lorasweep
// processes of one host. A card leased by one is skipped by the other
// (which takes a free card instead, or waits), per_gpu bounds the trials
// of all pools together, and a release hands the card over.
func TestHostLeases(t *testing.T) {
	const oneCard = "0, GPU-aaaa, NVIDIA GeForce RTX 4090, 24564, 2\n"
	const twoCards = oneCard + "1, GPU-bbbb, NVIDIA GeForce RTX 4090, 24564, 2\n"
	leases := t.TempDir()
	newPool := func(smi string, perGPU int) *Pool {
		p, err := NewPool(context.Background(), PoolConfig{Trainer: TrainerSpec{Kind: KindKohya}, GPUs: GPUSpec{Mode: GPUsAuto, PerGPU: perGPU},
			NvidiaSMI: fakeSMI(t, smi, 0), Env: []string{}, LeaseDir: leases})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// busy reports whether Acquire on p finds nothing within a moment.
	busy := func(p *Pool) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*hostBusyPoll)
		defer cancel()
		l, err := p.Acquire(ctx)
		if err == nil {
			l.Release()
			return false
		}
		return true
	}

	a, b := newPool(oneCard, 1), newPool(oneCard, 1)
	la, err := a.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !busy(b) {
		t.Error("a second process got the card the first one holds")
	}
	got := make(chan *Lease, 1)
	go func() {
		l, err := b.Acquire(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	la.Release()
	lb := <-got
	if busy(a) != true {
		t.Error("the card was free to the first process while the second held it")
	}
	lb.Release()

	// per_gpu 2: two pools share the card, a third waits.
	c, d, e := newPool(oneCard, 2), newPool(oneCard, 2), newPool(oneCard, 2)
	lc, _ := c.Acquire(context.Background())
	ld, _ := d.Acquire(context.Background())
	if !busy(e) {
		t.Error("per_gpu 2 let a third trial onto the card")
	}
	lc.Release()
	ld.Release()

	// Two cards: a pool whose first slot's card is held elsewhere takes
	// the other card instead of waiting.
	f, g := newPool(twoCards, 1), newPool(twoCards, 1)
	lf, _ := f.Acquire(context.Background())
	lg, err := g.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if lf.GPUs()[0] == lg.GPUs()[0] {
		t.Errorf("both processes on GPU %s", lf.GPUs()[0])
	}
	lf.Release()
	lg.Release()
}
