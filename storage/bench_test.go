package storage

import (
	"context"
	"fmt"
	"testing"

	"github.com/c-bata/goptuna"
	"github.com/jmoiron/sqlx"
)

var benchDists = []struct {
	name string
	dist interface{}
}{
	{"network_dim", goptuna.LogUniformDistribution{Low: 4, High: 128}},
	{"network_alpha", goptuna.UniformDistribution{Low: 0.125, High: 1}},
	{"unet_lr", goptuna.LogUniformDistribution{Low: 1e-5, High: 1e-3}},
	{"lr_scheduler", goptuna.CategoricalDistribution{Choices: []string{"cosine", "linear", "constant"}}},
	{"max_train_epochs", goptuna.IntUniformDistribution{Low: 4, High: 20}},
}

// prefill inserts n finished trials with the benchmark's params and two
// intermediate values each, in one transaction.
func prefill(b *testing.B, s *Store, sid, n int) {
	b.Helper()
	err := s.write(context.Background(), func(tx *sqlx.Tx) error {
		for i := 0; i < n; i++ {
			ft := goptuna.FrozenTrial{State: goptuna.TrialStateComplete, Value: float64(i % 97),
				InternalParams: map[string]float64{}, Distributions: map[string]interface{}{},
				IntermediateValues: map[int]float64{0: 1, 1: 0.5}}
			for _, d := range benchDists {
				ft.InternalParams[d.name] = 1
				ft.Distributions[d.name] = d.dist
			}
			if _, err := s.insertTrial(context.Background(), tx, sid, ft, true); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAskTell measures the storage's overhead per trial of one worker:
// ask (Claim, the sampler's history read, 5 params) and tell (an
// intermediate value, value, state), with N finished trials already in the
// study. The history is read through GetAllTrials (goptuna's contract: fresh
// copies) or TrialsView (shared, read-only). Each iteration adds one more
// finished trial: run with -benchtime=200x so N stays about N.
func BenchmarkAskTell(b *testing.B) {
	ctx := context.Background()
	for _, be := range backends() {
		for _, n := range []int{100, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/N=%d", be.name, n), func(b *testing.B) {
				s := openT(b, be.dsn(b))
				sid, err := s.CreateStudyCtx(ctx, "bench", goptuna.StudyDirectionMinimize)
				if err != nil {
					b.Fatal(err)
				}
				prefill(b, s, sid, n)
				reads := []struct {
					name string
					read func() (int, error)
				}{
					{"GetAllTrials", func() (int, error) { h, err := s.GetAllTrials(sid); return len(h), err }},
					{"TrialsView", func() (int, error) { h, err := s.TrialsView(ctx, sid); return len(h), err }},
				}
				for _, rd := range reads {
					b.Run(rd.name, func(b *testing.B) {
						if _, err := rd.read(); err != nil { // a worker's cache is warm after its first ask
							b.Fatal(err)
						}
						b.ReportAllocs()
						b.ResetTimer()
						for i := 0; i < b.N; i++ {
							askTell(b, s, sid, n, rd.read)
						}
					})
				}
			})
		}
	}
}

func askTell(b *testing.B, s *Store, sid, n int, read func() (int, error)) {
	ctx := context.Background()
	r, err := s.Claim(ctx, sid, 0)
	if err != nil {
		b.Fatal(err)
	}
	if got, err := read(); err != nil || got < n {
		b.Fatal(got, err)
	}
	for _, d := range benchDists {
		if err := s.SetTrialParam(r.TrialID, d.name, 1, d.dist); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.SetTrialIntermediateValue(r.TrialID, 0, 1); err != nil {
		b.Fatal(err)
	}
	if err := s.SetTrialValue(r.TrialID, 1); err != nil {
		b.Fatal(err)
	}
	if err := s.SetTrialState(r.TrialID, goptuna.TrialStateComplete); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkColdHistoryRead is a fresh worker's first read of a study with N
// finished trials (no cache): the full load, one query per table.
func BenchmarkColdHistoryRead(b *testing.B) {
	ctx := context.Background()
	for _, be := range backends() {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("%s/N=%d", be.name, n), func(b *testing.B) {
				dsn := be.dsn(b)
				s := openT(b, dsn)
				sid, err := s.CreateStudyCtx(ctx, "h", goptuna.StudyDirectionMinimize)
				if err != nil {
					b.Fatal(err)
				}
				prefill(b, s, sid, n)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					s.cache.dropStudy(sid)
					if _, err := s.TrialsView(ctx, sid); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
