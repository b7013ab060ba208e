package tpe_test

import (
	"fmt"
	"testing"

	"github.com/c-bata/goptuna"
	"github.com/lorasweep/lorasweep/sweep/sampling"
	"github.com/lorasweep/lorasweep/sweep/tpe"
)

// tenParams is a 10-param space of every kind the spec layer produces.
var tenParams = []struct {
	name string
	dist interface{}
}{
	{"lr", goptuna.LogUniformDistribution{Low: 1e-6, High: 1e-2}},
	{"unet_lr", goptuna.LogUniformDistribution{Low: 1e-6, High: 1e-2}},
	{"rank", goptuna.LogUniformDistribution{Low: 2, High: 128}},
	{"alpha", goptuna.UniformDistribution{Low: 0.1, High: 1}},
	{"dropout", goptuna.UniformDistribution{Low: 0, High: 0.5}},
	{"warmup", goptuna.DiscreteUniformDistribution{Low: 0, High: 0.1, Q: 0.01}},
	{"epochs", goptuna.IntUniformDistribution{Low: 4, High: 20}},
	{"batch", goptuna.StepIntUniformDistribution{Low: 1, High: 8, Step: 1}},
	{"sched", goptuna.CategoricalDistribution{Choices: []string{"constant", "linear", "cosine", "cosine_with_restarts", "polynomial"}}},
	{"opt", goptuna.CategoricalDistribution{Choices: []string{"AdamW8bit", "Lion", "Prodigy"}}},
}

// askTell creates a trial, samples all ten params with s and tells a value.
func askTell(b *testing.B, study *goptuna.Study, s goptuna.Sampler) {
	id, err := study.Storage.CreateNewTrial(study.ID)
	if err != nil {
		b.Fatal(err)
	}
	ft, err := study.Storage.GetTrial(id)
	if err != nil {
		b.Fatal(err)
	}
	var v float64
	for _, p := range tenParams {
		x, err := s.Sample(study, ft, p.name, p.dist)
		if err != nil {
			b.Fatal(err)
		}
		if err := study.Storage.SetTrialParam(id, p.name, x, p.dist); err != nil {
			b.Fatal(err)
		}
		v += x
	}
	_ = study.Storage.SetTrialValue(id, v)
	_ = study.Storage.SetTrialState(id, goptuna.TrialStateComplete)
}

// BenchmarkAskTell times one ask (10 params) + tell with N finished trials
// in goptuna's in-memory storage. The history grows by b.N during the run;
// run with -benchtime=200x so it stays near N.
func BenchmarkAskTell(b *testing.B) {
	logInt := map[string]bool{"rank": true}
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("trials=%d", n), func(b *testing.B) {
			study, err := goptuna.CreateStudy("b", goptuna.StudyOptionStorage(goptuna.NewInMemoryStorage()), goptuna.StudyOptionLogger(nil))
			if err != nil {
				b.Fatal(err)
			}
			pre := sampling.NewRandom(sampling.RandomOptions{Seed: 1, LogInt: logInt})
			for range n {
				askTell(b, study, pre)
			}
			s := tpe.NewSampler(tpe.Options{Seed: 1, ConstantLiar: true, LogInt: logInt})
			b.ResetTimer()
			for range b.N {
				askTell(b, study, s)
			}
		})
	}
}
