package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lorasweep/lorasweep/internal/nvsmi"
)

// ErrPruned is the cancellation cause (context.WithCancelCause) that tells Run
// the trial was stopped by the pruner: its outcome reason is ReasonPruned
// rather than ReasonInterrupted.
var ErrPruned = errors.New("trial pruned")

// BusyMemoryMiB is the memory use above which `gpus: auto` treats a card as
// busy (another user's process holds it) and leaves it out.
const BusyMemoryMiB = 1024

// Trainer kinds.
const (
	KindKohya   = "kohya"
	KindBuiltin = "builtin"
	KindCommand = "command"
)

// GPU modes of GPUSpec.Mode.
const (
	GPUsAuto = "auto"
	GPUsNone = "none"
	GPUsList = "list"
)

// PoolConfig configures NewPool.
type PoolConfig struct {
	Trainer TrainerSpec
	GPUs    GPUSpec
	// Parallel caps the number of slots (0 = as many as there are leases).
	Parallel int
	// CPUs is the number of CPU slots the machine has room for (0 =
	// runtime.NumCPU()): parallel never exceeds it for CPU-slot trainers.
	CPUs int
	// Self is the lorasweep binary, re-executed as `Self supervise …` to hold
	// each trainer's process group and, for the builtin trainer, as
	// `Self train-builtin --config_file trial.toml`. Empty runs trainers
	// without a supervisor (they may then outlive a SIGKILLed lorasweep).
	Self string
	// NvidiaSMI is the nvidia-smi binary (default "nvidia-smi" from PATH).
	NvidiaSMI string
	// Env is the base environment of trainers. Nil means os.Environ() minus
	// variables that look like secrets (see StripSecrets): a trainer needs
	// PATH, HOME, HF_HOME and the like, but not a database password.
	Env []string
	// CacheDir holds per-(dataset, resolution) views of datasets whose
	// latent caches are written to disk (see datasetView). Empty disables
	// the views: trials then share the dataset folder and its caches.
	CacheDir string
	// SampleRescan is how often a running trial's sample folder is listed
	// between console lines (0 = DefaultSampleRescan).
	SampleRescan time.Duration
	// LeaseDir is the folder of host-wide GPU lease files (DefaultLeaseDir
	// in the CLI): every lorasweep process of the host flocks a card's file
	// before training on it, so two runs never put trials on one card
	// beyond per_gpu. Empty: GPU slots are coordinated within this pool
	// only. CPU slots never are.
	LeaseDir string
	Logger   *slog.Logger
}

// DefaultSampleRescan: listing a sample folder four times a second costs
// nothing next to training, and a late image is seen within a blink.
const DefaultSampleRescan = 250 * time.Millisecond

func (p *Pool) sampleRescanEvery() time.Duration {
	if p.cfg.SampleRescan > 0 {
		return p.cfg.SampleRescan
	}
	return DefaultSampleRescan
}

// SlotInfo describes one slot: what `lorasweep gpus` and status print.
type SlotInfo struct {
	Slot int `json:"slot"`
	// GPUs are the nvidia-smi indexes of the slot's cards (CUDA_VISIBLE_DEVICES
	// under CUDA_DEVICE_ORDER=PCI_BUS_ID), or ["cpuN"] for a CPU slot.
	GPUs  []string `json:"gpus"`
	UUIDs []string `json:"uuids,omitempty"`
	Names []string `json:"names,omitempty"`
	CPU   bool     `json:"cpu"`
}

// Pool hands out slots (one or more GPUs, or a CPU slot) to trials and runs
// trainers on them. Its methods are safe for concurrent use.
type Pool struct {
	cfg   PoolConfig
	log   *slog.Logger
	slots []SlotInfo
	free  chan int
	// Found lists every card nvidia-smi reported; Skipped says why some are
	// not used.
	found   []nvsmi.GPU
	skipped []string

	helpMu    sync.Mutex
	helpCache map[string]map[string]bool

	viewMu sync.Mutex
	views  map[string]*datasetView
}

// Lease is a slot held by one trial until Release.
type Lease struct {
	pool  *Pool
	slot  int
	once  sync.Once
	files []*os.File // host-wide GPU lease files, flocked (LeaseDir)
}

// hostBusyPoll is how often Acquire looks again when every free slot's
// cards are leased by other lorasweep processes of the host.
const hostBusyPoll = 500 * time.Millisecond

// NewPool discovers GPUs (unless the trainer or spec uses CPU slots) and
// builds the slots. It fails when the spec names GPUs that do not exist, or
// when nvidia-smi prints something that cannot be parsed.
func NewPool(ctx context.Context, cfg PoolConfig) (*Pool, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Env == nil {
		cfg.Env = StripSecrets(os.Environ())
	}
	if cfg.Trainer.Kind == "" {
		cfg.Trainer.Kind = KindBuiltin
	}
	switch cfg.Trainer.Kind {
	case KindKohya, KindBuiltin, KindCommand:
	default:
		return nil, fmt.Errorf("new pool: unknown trainer kind %q (want kohya, builtin or command)", cfg.Trainer.Kind)
	}
	if cfg.GPUs.Mode == "" {
		cfg.GPUs.Mode = GPUsAuto
		if len(cfg.GPUs.IDs) > 0 {
			cfg.GPUs.Mode = GPUsList
		}
	}
	p := &Pool{cfg: cfg, log: cfg.Logger, helpCache: map[string]map[string]bool{}, views: map[string]*datasetView{}}
	if err := p.buildSlots(ctx); err != nil {
		return nil, fmt.Errorf("new pool: %w", err)
	}
	p.free = make(chan int, len(p.slots))
	for i := range p.slots {
		p.free <- i
	}
	return p, nil
}

func (p *Pool) buildSlots(ctx context.Context) error {
	cfg := p.cfg
	cores := cfg.CPUs
	if cores <= 0 {
		cores = runtime.NumCPU()
	}
	cpuSlots := func(n int) {
		if n <= 0 {
			n = 1
		}
		if n > cores {
			// More CPU trainers than cores only makes each slower and the
			// trial durations (and deadline predictions) meaningless.
			p.skipped = append(p.skipped, fmt.Sprintf("parallel %d capped at %d: the machine has %d CPU cores", n, cores, cores))
			n = cores
		}
		for i := 0; i < n; i++ {
			p.slots = append(p.slots, SlotInfo{Slot: i, GPUs: []string{"cpu" + strconv.Itoa(i)}, CPU: true})
		}
	}
	// The builtin trainer is a CPU trainer: a GPU lease would only idle.
	if cfg.Trainer.Kind == KindBuiltin {
		n := cfg.Parallel
		if n <= 0 {
			n = cores
		}
		cpuSlots(n)
		return nil
	}
	if cfg.GPUs.Mode == GPUsNone {
		cpuSlots(cfg.Parallel)
		return nil
	}
	gpus, err := nvsmi.Query(ctx, cfg.NvidiaSMI, cfg.Env)
	if err != nil {
		if errors.Is(err, nvsmi.ErrNotFound) && cfg.GPUs.Mode == GPUsAuto {
			p.skipped = append(p.skipped, "nvidia-smi not found: using CPU slots")
			cpuSlots(cfg.Parallel)
			return nil
		}
		return err
	}
	p.found = gpus
	byIndex := map[int]nvsmi.GPU{}
	for _, g := range gpus {
		byIndex[g.Index] = g
	}
	var use []nvsmi.GPU
	switch cfg.GPUs.Mode {
	case GPUsAuto:
		for _, g := range gpus {
			if g.MemoryUsedMiB > BusyMemoryMiB {
				p.skipped = append(p.skipped, fmt.Sprintf("GPU %d (%s) is busy: %d MiB in use by another process", g.Index, g.Name, g.MemoryUsedMiB))
				continue
			}
			use = append(use, g)
		}
	case GPUsList:
		for _, id := range cfg.GPUs.IDs {
			g, ok := byIndex[id]
			if !ok {
				return fmt.Errorf("gpus: GPU %d does not exist (nvidia-smi lists %s)", id, indexList(gpus))
			}
			if g.MemoryUsedMiB > BusyMemoryMiB {
				p.skipped = append(p.skipped, fmt.Sprintf("GPU %d (%s) has %d MiB in use by another process; using it as asked", g.Index, g.Name, g.MemoryUsedMiB))
			}
			use = append(use, g)
		}
	default:
		return fmt.Errorf("gpus: unknown mode %q (want auto, none or a list of ids)", cfg.GPUs.Mode)
	}
	if len(use) == 0 {
		p.skipped = append(p.skipped, "no usable GPU: using CPU slots")
		cpuSlots(cfg.Parallel)
		return nil
	}
	perTrial := max(cfg.GPUs.PerTrial, 1)
	perGPU := max(cfg.GPUs.PerGPU, 1)
	if perTrial > 1 && perGPU > 1 {
		return errors.New("gpus: per_gpu and gpus_per_trial cannot both be above 1")
	}
	if len(use) < perTrial {
		return fmt.Errorf("gpus: gpus_per_trial is %d but only %d GPUs are usable", perTrial, len(use))
	}
	if rest := len(use) % perTrial; rest != 0 {
		p.skipped = append(p.skipped, fmt.Sprintf("%d GPUs left over by gpus_per_trial %d", rest, perTrial))
	}
	n := 0
	for u := 0; u+perTrial <= len(use); u += perTrial {
		group := use[u : u+perTrial]
		for k := 0; k < perGPU; k++ {
			si := SlotInfo{Slot: n}
			for _, g := range group {
				si.GPUs = append(si.GPUs, strconv.Itoa(g.Index))
				si.UUIDs = append(si.UUIDs, g.UUID)
				si.Names = append(si.Names, g.Name)
			}
			p.slots = append(p.slots, si)
			n++
		}
	}
	if cfg.Parallel > 0 && cfg.Parallel < len(p.slots) {
		// Spread the capped slots over cards rather than stacking them on
		// the first one: with per_gpu 2 and parallel 2 use two cards.
		sort.SliceStable(p.slots, func(i, j int) bool { return p.slots[i].Slot%perGPU < p.slots[j].Slot%perGPU })
		p.slots = p.slots[:cfg.Parallel]
		for i := range p.slots {
			p.slots[i].Slot = i
		}
	}
	return nil
}

func indexList(gpus []nvsmi.GPU) string {
	if len(gpus) == 0 {
		return "none"
	}
	s := make([]string, len(gpus))
	for i, g := range gpus {
		s[i] = strconv.Itoa(g.Index)
	}
	return strings.Join(s, ", ")
}

// Slots lists the pool's slots.
func (p *Pool) Slots() []SlotInfo { return append([]SlotInfo(nil), p.slots...) }

// Found lists the GPUs nvidia-smi reported (nil when it was not run).
func (p *Pool) Found() []nvsmi.GPU { return append([]nvsmi.GPU(nil), p.found...) }

// Notes says why GPUs were left out or CPU slots used, one line each.
func (p *Pool) Notes() []string { return append([]string(nil), p.skipped...) }

// Acquire blocks until a slot is free or ctx is done. With a LeaseDir, a
// GPU slot is free only when this host's other lorasweep processes leave
// room on its cards; a busy slot is skipped for another free one.
func (p *Pool) Acquire(ctx context.Context) (*Lease, error) {
	busy := 0
	for {
		var i int
		select {
		case i = <-p.free:
		case <-ctx.Done():
			return nil, fmt.Errorf("acquire slot: %w", context.Cause(ctx))
		}
		if p.cfg.LeaseDir == "" || p.slots[i].CPU {
			return &Lease{pool: p, slot: i}, nil
		}
		files, ok, err := p.lockHost(i)
		if err != nil {
			p.free <- i
			return nil, fmt.Errorf("acquire slot: %w", err)
		}
		if ok {
			return &Lease{pool: p, slot: i, files: files}, nil
		}
		p.free <- i
		if busy++; busy < len(p.slots) {
			continue // another free slot may be on a free card
		}
		busy = 0
		p.log.Debug("every free GPU slot is leased by another lorasweep process on this host; waiting")
		select {
		case <-time.After(hostBusyPoll):
		case <-ctx.Done():
			return nil, fmt.Errorf("acquire slot: %w", context.Cause(ctx))
		}
	}
}

// GPUs returns the leased GPU ids (nvidia-smi indexes) or ["cpuN"].
func (l *Lease) GPUs() []string { return append([]string(nil), l.pool.slots[l.slot].GPUs...) }

// Slot returns the slot number.
func (l *Lease) Slot() int { return l.slot }

// CPU reports whether the lease is a CPU slot.
func (l *Lease) CPU() bool { return l.pool.slots[l.slot].CPU }

// Release returns the slot to the pool and its cards to the host;
// calling it again does nothing.
func (l *Lease) Release() {
	l.once.Do(func() {
		for _, f := range l.files {
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			f.Close()
		}
		l.pool.free <- l.slot
	})
}

// Env returns the variables that pin a process to the lease: CUDA_VISIBLE_DEVICES
// (empty on a CPU slot, which hides every GPU) and CUDA_DEVICE_ORDER=PCI_BUS_ID
// so CUDA numbers cards as nvidia-smi does.
func (l *Lease) Env() []string {
	if l.CPU() {
		return []string{"CUDA_VISIBLE_DEVICES="}
	}
	return []string{"CUDA_DEVICE_ORDER=PCI_BUS_ID", "CUDA_VISIBLE_DEVICES=" + strings.Join(l.GPUs(), ",")}
}

// StripSecrets drops variables whose names suggest credentials (…PASSWORD,
// …TOKEN, …SECRET, …_KEY, PG*, LORASWEEP_STORAGE, DATABASE_URL): a trainer
// never needs the sweep's database credentials. Hugging Face and wandb
// tokens (HF_TOKEN, WANDB_API_KEY) are kept because sd-scripts uses them.
func StripSecrets(env []string) []string {
	keep := map[string]bool{"HF_TOKEN": true, "HUGGING_FACE_HUB_TOKEN": true, "WANDB_API_KEY": true}
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		u := strings.ToUpper(name)
		secret := strings.Contains(u, "PASSWORD") || strings.Contains(u, "SECRET") ||
			strings.HasSuffix(u, "TOKEN") || strings.HasSuffix(u, "_KEY") ||
			strings.HasPrefix(u, "PG") || u == "LORASWEEP_STORAGE" || u == "DATABASE_URL"
		if secret && !keep[u] {
			continue
		}
		out = append(out, kv)
	}
	return out
}
