package bench

import (
	"context"
	"math"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

func TestParseTrainerTimes(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		wantErr bool
		dur     time.Duration
	}{
		{"bash EPOCHREALTIME pair", "1700000000.250000 1700000000.750000\n", false, 500 * time.Millisecond},
		{"one field", "1700000000.25", true, 0},
		{"not a number", "a b", true, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, e, err := parseTrainerTimes(c.in)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if err == nil && (e.Sub(s)-c.dur).Abs() > time.Microsecond {
				t.Errorf("duration %v, want %v", e.Sub(s), c.dur)
			}
		})
	}
}

func TestBreakdown(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	// Two slots, two trials each, 100 ms of training; each trial: 10 ms
	// suggest, 20 ms launch, 5 ms exit, 2 ms tell. Slot 2 starts 40 ms late.
	trial := func(n, claim int) TrialTiming {
		return TrialTiming{Number: n, Claimed: ms(claim), Launched: ms(claim + 10), TrainStart: ms(claim + 30),
			TrainEnd: ms(claim + 130), Ended: ms(claim + 135), Told: ms(claim + 137)}
	}
	cases := []struct {
		name string
		ts   []TrialTiming
		wall time.Duration
		want Breakdown
	}{
		{"two slots with a gap and a tail",
			[]TrialTiming{trial(0, 50), trial(1, 90), trial(2, 185), trial(3, 225)},
			400 * time.Millisecond,
			// Busy span 50..362: 312 ms per slot, 624 ms of slot-time, of
			// which 4×135 ms are in trials: 84 ms idle.
			Breakdown{Slots: 2, Wall: 0.4, Startup: 0.05, Tail: 0.038, Suggest: 0.04, Launch: 0.08, Train: 0.4, Exit: 0.02, Tell: 0.008, Idle: 0.084, Trials: 4}},
		{"no trainer timestamps: launch to end is training",
			// The tell runs after the lease is given back: one slot, nothing
			// else to run, so its 1 ms counts as idle.
			[]TrialTiming{{Number: 0, Claimed: ms(0), Launched: ms(10), Ended: ms(110), Told: ms(111)}},
			111 * time.Millisecond,
			Breakdown{Slots: 1, Wall: 0.111, Suggest: 0.01, Train: 0.1, Tell: 0.001, Idle: 0.001, Trials: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := breakdown(c.ts, t0, c.wall, c.want.Slots)
			g := []float64{got.Wall, got.Startup, got.Tail, got.Suggest, got.Launch, got.Train, got.Exit, got.Tell, got.Idle}
			w := []float64{c.want.Wall, c.want.Startup, c.want.Tail, c.want.Suggest, c.want.Launch, c.want.Train, c.want.Exit, c.want.Tell, c.want.Idle}
			for i := range g {
				if math.Abs(g[i]-w[i]) > 1e-9 {
					t.Fatalf("breakdown = %+v, want %+v", got, c.want)
				}
			}
			if got.Trials != c.want.Trials {
				t.Errorf("trials %d, want %d", got.Trials, c.want.Trials)
			}
		})
	}
}

// TestMeasureCmdPeakRSS runs real processes and requires the measured peak
// RSS to be the child's own: one that holds 64 MiB must show it, one that
// holds nothing must stay small even while the harness itself holds 160 MiB
// (wait4's ru_maxrss would report the harness's peak for it).
func TestMeasureCmdPeakRSS(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	ballast := make([]byte, 160<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	cases := []struct {
		name     string
		code     string
		min, max int64 // KiB
	}{
		{"holds 64 MiB", "import time; b = bytearray(64 << 20); b[::4096] = b'x' * len(b[::4096]); time.sleep(0.2)", 64 << 10, 150 << 10},
		{"holds nothing", "import time; time.sleep(0.1)", 1, 48 << 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := measureCmd(context.Background(), t.TempDir(), py, "-c", c.code)
			if err != nil {
				t.Fatal(err)
			}
			if st.PeakRSSKB < c.min || st.PeakRSSKB > c.max {
				t.Errorf("peak RSS %d KiB, want %d..%d", st.PeakRSSKB, c.min, c.max)
			}
			if st.WallSeconds <= 0 {
				t.Errorf("wall %v", st.WallSeconds)
			}
		})
	}
	runtime.KeepAlive(ballast)
}
