package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lorasweep/lorasweep/storage"
)

// TrialTiming is one trial's timestamps as the store recorded them, plus the
// trainer's own (when it wrote a TrainerTimesFile).
type TrialTiming struct {
	Number int `json:"number"`
	// Claimed is the claim (the trial row's start); Launched is when the
	// controller began preparing it (after the sampler's suggestion);
	// Ended is when the run was recorded as ended (trainer gone, last epoch
	// scored); Told is the trial's completion (value and state written).
	Claimed  time.Time `json:"claimed"`
	Launched time.Time `json:"launched"`
	Ended    time.Time `json:"ended"`
	Told     time.Time `json:"told"`
	// TrainStart and TrainEnd come from the trainer itself; zero when it
	// wrote none.
	TrainStart time.Time `json:"train_start,omitempty"`
	TrainEnd   time.Time `json:"train_end,omitempty"`
}

// TrainerTimesFile is the file, in a trial's directory, where a benchmark
// trainer writes "START END" (Unix seconds with a fraction) around its
// training.
const TrainerTimesFile = "train-times"

// collectTimings reads every trial's timestamps of a finished sweep.
func collectTimings(ctx context.Context, store *storage.Store, studyID int) ([]TrialTiming, error) {
	trials, err := store.GetAllTrials(studyID)
	if err != nil {
		return nil, fmt.Errorf("read trials: %w", err)
	}
	runs, err := store.Runs(ctx, studyID)
	if err != nil {
		return nil, err
	}
	byID := map[int]int{}
	out := make([]TrialTiming, len(trials))
	for i, t := range trials {
		byID[t.ID] = i
		out[i] = TrialTiming{Number: t.Number, Claimed: t.DatetimeStart, Told: t.DatetimeComplete}
	}
	for _, r := range runs {
		i, ok := byID[r.TrialID]
		if !ok {
			continue
		}
		out[i].Launched = r.Started
		if r.Ended != nil {
			out[i].Ended = *r.Ended
		}
		if b, err := os.ReadFile(filepath.Join(r.TrialDir, TrainerTimesFile)); err == nil {
			out[i].TrainStart, out[i].TrainEnd, _ = parseTrainerTimes(string(b))
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Number < out[b].Number })
	return out, nil
}

// parseTrainerTimes reads "START END" in Unix seconds (bash's
// $EPOCHREALTIME, so a decimal fraction).
func parseTrainerTimes(s string) (start, end time.Time, err error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return start, end, fmt.Errorf("parse trainer times: want 2 fields, got %d", len(f))
	}
	var ts [2]time.Time
	for i, x := range f {
		v, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return start, end, fmt.Errorf("parse trainer times: %w", err)
		}
		sec := int64(v)
		ts[i] = time.Unix(sec, int64((v-float64(sec))*1e9))
	}
	return ts[0], ts[1], nil
}

// Breakdown splits a sweep's slot-time into where it went, from the trials'
// timestamps. All durations are sums over trials in seconds, except the
// sweep-level Startup and Tail.
type Breakdown struct {
	Slots int     `json:"slots"`
	Wall  float64 `json:"wall_s"`
	// Startup: sweep start to the first claim (open store, create study,
	// reconcile). Tail: the last trial told to the sweep's return.
	Startup float64 `json:"startup_s"`
	Tail    float64 `json:"tail_s"`
	// Suggest: claim to launch (sampler, params recorded). Launch: launch
	// to the trainer's first timestamp (trial files, run row, supervisor and
	// trainer process start). Train: the trainer's own time. Exit: trainer's
	// last timestamp to the run's end (process exit, output drained, last
	// epoch scored). Tell: run end to completion (value, state).
	Suggest float64 `json:"suggest_s"`
	Launch  float64 `json:"launch_s"`
	Train   float64 `json:"train_s"`
	Exit    float64 `json:"exit_s"`
	Tell    float64 `json:"tell_s"`
	// Idle is slot-time in none of the above: slots × wall minus Startup and
	// Tail on every slot, minus each trial's claim-to-exit time. The lease
	// is held from before the claim until the trainer exits, so Idle is a
	// slot waiting to be acquired and claimed (negative values mean the
	// phases overlapped the slot's lease: tells run beside the next trial).
	Idle   float64 `json:"idle_s"`
	Trials int     `json:"trials"`
}

// breakdown computes a Breakdown; trials without trainer timestamps count
// their whole launch-to-end time as Train.
func breakdown(ts []TrialTiming, start time.Time, wall time.Duration, slots int) Breakdown {
	b := Breakdown{Slots: slots, Wall: wall.Seconds(), Trials: len(ts)}
	if len(ts) == 0 {
		return b
	}
	first, last := ts[0].Claimed, ts[0].Told
	sec := func(a, z time.Time) float64 {
		if a.IsZero() || z.IsZero() {
			return 0
		}
		return z.Sub(a).Seconds()
	}
	for _, t := range ts {
		if t.Claimed.Before(first) {
			first = t.Claimed
		}
		if t.Told.After(last) {
			last = t.Told
		}
		b.Suggest += sec(t.Claimed, t.Launched)
		if t.TrainStart.IsZero() {
			b.Train += sec(t.Launched, t.Ended)
		} else {
			b.Launch += sec(t.Launched, t.TrainStart)
			b.Train += sec(t.TrainStart, t.TrainEnd)
			b.Exit += sec(t.TrainEnd, t.Ended)
		}
		b.Tell += sec(t.Ended, t.Told)
	}
	b.Startup = sec(start, first)
	b.Tail = sec(last, start.Add(wall))
	b.Idle = float64(slots)*(b.Wall-b.Startup-b.Tail) - (b.Suggest + b.Launch + b.Train + b.Exit)
	return b
}
