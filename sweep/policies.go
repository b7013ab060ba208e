package sweep

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/c-bata/goptuna"
	"go.yaml.in/yaml/v3"

	"github.com/lorasweep/lorasweep/kohya"
	"github.com/lorasweep/lorasweep/runner"
)

// internalFromParams is Spec.InternalFromParams for enqueued configs that
// may also set arguments outside the search space (an OOM retry's smaller
// train_batch_size, an --enqueue file's extra settings): such a config runs
// with them but lies outside the space.
func (c *Controller) internalFromParams(params map[string]any) (map[string]float64, bool, error) {
	byName := c.Spec.paramIndex()
	inSpace := make(map[string]any, len(params))
	extra := false
	for k, v := range params {
		if _, ok := byName[k]; ok {
			inSpace[k] = v
		} else {
			extra = true
		}
	}
	internal, inside, err := c.Spec.InternalFromParams(inSpace)
	return internal, inside && !extra, err
}

// trialConfig is the trial's trainer config: Spec.TrialConfig plus the
// params that are not search dimensions (arguments an enqueued config or an
// OOM retry sets), and, when num_repeats is searched, a per-trial dataset.
func (c *Controller) trialConfig(dir string, params map[string]any) (kohya.Config, error) {
	cfg := c.Spec.TrialConfig(params)
	byName := c.Spec.paramIndex()
	for k, v := range params {
		if _, ok := byName[k]; ok {
			continue
		}
		if arg, ok := kohya.LookupArg(k); ok {
			v = typedFor(arg.Kind, normalizeNumber(v))
		}
		cfg[k] = v
	}
	ds := c.Spec.DatasetParams(params)
	if len(ds) == 0 {
		return cfg, nil
	}
	opts := runner.DatasetOptions{}
	if v, ok := toFloat(normalizeNumber(ds["num_repeats"])); ok {
		opts.NumRepeats = int(math.Round(v))
	}
	out, err := runner.ApplyDatasetOptions(dir, c.Spec.Trainer.Kind, cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("write trial dataset: %w", err)
	}
	return out, nil
}

// NewWorkerID names one start of a worker process: "host:pid:nonce". Host
// and pid are there for people and for the same-host dead-process check; the
// random nonce makes the name unique per process start, so a restarted
// container whose lorasweep is PID 1 again under the same hostname is not
// mistaken for the process that ran before it (and never treats that
// process's trials as its own).
func NewWorkerID(host string, pid int) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s:%d:%s", host, pid, hex.EncodeToString(b[:]))
}

// workerPID reads the pid of a worker ID: "host:pid:nonce" (NewWorkerID) or
// the older "host:pid"; 0 when it has none.
func workerPID(workerID string) int {
	f := strings.Split(workerID, ":")
	field := ""
	switch {
	case len(f) >= 3:
		field = f[len(f)-2]
	case len(f) == 2:
		field = f[1]
	}
	pid, err := strconv.Atoi(field)
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// reapDeadLocal fails, as interrupted, the RUNNING trials whose worker ran
// on this host and is gone (kill -9 a moment ago): waiting StaleAfter for
// their heartbeats to age would leave their slots' work undone for nothing.
// A pid that is alive — even when reused by another program — leaves the
// trial to the stale-heartbeat reaper, the safe side.
func (c *Controller) reapDeadLocal(ctx context.Context) error {
	if c.Alive == nil || c.Host == "" {
		return nil
	}
	runs, err := c.Store.Runs(ctx, c.study.ID)
	if err != nil {
		return fmt.Errorf("list runs: %w", err)
	}
	self := workerPID(c.WorkerID)
	for _, r := range runs {
		if r.Host != c.Host || r.Ended != nil {
			continue
		}
		pid := workerPID(r.WorkerID)
		if pid == 0 || r.WorkerID == c.WorkerID {
			continue
		}
		if pid == self {
			// An earlier start with our pid: a container restarted with
			// lorasweep as PID 1 again. It is dead unless it runs in another
			// PID namespace under the same hostname, which no pid check can
			// tell apart: the stale-heartbeat reaper frees these trials.
			c.log().Warn("trial held by an earlier process with this pid: re-run once its heartbeat is stale", "trial_id", r.TrialID, "worker", r.WorkerID, "stale_after", c.StaleAfter)
			continue
		}
		if c.Alive(pid) {
			continue
		}
		t, err := c.Store.GetTrial(r.TrialID)
		if err != nil {
			return fmt.Errorf("read trial of dead worker: %w", err)
		}
		if t.State != goptuna.TrialStateRunning {
			continue
		}
		retryID, err := c.Store.FailInterruptedLimit(ctx, r.TrialID, c.deathRetries())
		if errors.Is(err, goptuna.ErrTrialCannotBeUpdated) {
			continue // finished or reaped in between
		}
		if err != nil {
			return fmt.Errorf("reap trial %d of dead worker %s: %w", t.Number, r.WorkerID, err)
		}
		c.log().Warn("trial interrupted: its worker on this host is gone", "trial", t.Number, "worker", r.WorkerID, "requeued", retryID != 0)
	}
	return nil
}

// retryOOM enqueues, by the budget's on_oom policy, a new trial linked to
// the one that ran out of memory, with a halved train_batch_size or with
// gradient_checkpointing on. It is a different experiment: recorded with
// its own params, counted against the budget, and only enqueued while the
// budget has room (a retry left WAITING past the budget would never run).
func (c *Controller) retryOOM(ctx context.Context, tr *trialRun) error {
	policy := c.Spec.Budget.OnOOM
	if policy == "" || policy == OOMNone {
		return nil
	}
	params, ok := oomRetryParams(policy, tr.params, c.Spec.Base)
	if !ok {
		c.log().Warn("out of memory: no smaller setting left to retry with", "trial", tr.number, "policy", policy)
		return nil
	}
	if b := c.Spec.Budget.Trials; b > 0 {
		counted, _, err := c.Store.CountTrials(ctx, c.study.ID)
		if err != nil {
			return fmt.Errorf("trial %d: count trials: %w", tr.number, err)
		}
		if counted >= b {
			c.log().Warn("out of memory: no budget left for a retry", "trial", tr.number)
			return nil
		}
	}
	id, err := enqueueWith(ctx, c.Store, c.study.ID, params, EnqueuedOOMRetry, map[string]string{attrOOMRetryOf: strconv.Itoa(tr.number)})
	if err != nil {
		return fmt.Errorf("trial %d: enqueue OOM retry: %w", tr.number, err)
	}
	c.log().Info("out of memory: retry enqueued", "trial", tr.number, "retry_trial_id", id, "params", c.Spec.FormatTrainedParams(params))
	return nil
}

// oomRetryParams returns the params of an OOM retry, or false when the
// policy has nothing left to shrink (batch size 1, checkpointing already on).
func oomRetryParams(policy string, params map[string]any, base map[string]any) (map[string]any, bool) {
	out := make(map[string]any, len(params)+1)
	for k, v := range params {
		out[k] = v
	}
	lookup := func(k string) (any, bool) {
		if v, ok := params[k]; ok {
			return v, true
		}
		v, ok := base[k]
		return v, ok
	}
	switch policy {
	case OOMSmallerBatch:
		bs := 1.0
		if v, ok := lookup("train_batch_size"); ok {
			if f, ok := toFloat(normalizeNumber(v)); ok {
				bs = f
			}
		}
		if bs <= 1 {
			return nil, false
		}
		out["train_batch_size"] = int64(math.Floor(bs / 2))
	case OOMGradientCheckpointing:
		if v, ok := lookup("gradient_checkpointing"); ok && v == true {
			return nil, false
		}
		out["gradient_checkpointing"] = true
	default:
		return nil, false
	}
	return out, true
}

// claimRepeat starts the repeat phase once the budget's trials are
// finished: it enqueues the RepeatTop best configs RepeatSeeds times each
// with new seeds (once per sweep) and claims one of them. While trials of
// the main phase still run it waits for them (polling every
// HeartbeatEvery), since the best configs are not known before.
func (c *Controller) claimRepeat(ctx context.Context) (ClaimResult, error) {
	for {
		if !c.mayLaunch(ctx) {
			return ClaimResult{}, nil
		}
		ended := c.ended()
		// A main-phase trial may have been reaped and re-enqueued meanwhile.
		claim, err := c.Store.ClaimAs(ctx, c.study.ID, c.Spec.Budget.Trials, c.WorkerID, c.Host)
		if err != nil || claim.Granted {
			return claim, err
		}
		trials, err := c.Store.GetAllTrials(c.study.ID)
		if err != nil {
			return ClaimResult{}, fmt.Errorf("read trials: %w", err)
		}
		repeats, mainRunning := 0, 0
		for _, t := range trials {
			if t.SystemAttrs[attrRepeatOf] != "" {
				repeats++
			} else if t.State == goptuna.TrialStateRunning {
				mainRunning++
			}
		}
		if repeats == 0 && mainRunning > 0 {
			if err := c.wait(ctx, ended); err != nil {
				return ClaimResult{}, nil
			}
			continue
		}
		if repeats == 0 {
			if repeats, err = c.enqueueRepeats(ctx, trials); err != nil {
				return ClaimResult{}, err
			}
			if repeats == 0 {
				return ClaimResult{}, nil
			}
		}
		return c.Store.ClaimAs(ctx, c.study.ID, c.Spec.Budget.Trials+repeats, c.WorkerID, c.Host)
	}
}

// wait blocks for one poll interval, until ended closes (one of this
// process's trials was recorded: what a slot waiting for running trials
// waits for, most of the time — without it every run would end up to a poll
// interval late), or until ctx is done or a drain is requested.
func (c *Controller) wait(ctx context.Context, ended <-chan struct{}) error {
	t := time.NewTimer(c.HeartbeatEvery)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ended:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.Drain:
		return errors.New("drain requested")
	}
}

// enqueueRepeats enqueues the repeats of the best configs, once: a process
// serialises its own slots, and a second look at the study after taking the
// lock keeps a slot from enqueueing them twice. Two machines reaching this
// point in the same instant can still both enqueue (storage offers no
// compare-and-set on attrs); the claim budget then runs only the first set.
func (c *Controller) enqueueRepeats(ctx context.Context, trials []goptuna.FrozenTrial) (int, error) {
	c.repeatMu.Lock()
	defer c.repeatMu.Unlock()
	fresh, err := c.Store.GetAllTrials(c.study.ID)
	if err != nil {
		return 0, fmt.Errorf("read trials: %w", err)
	}
	n := 0
	for _, t := range fresh {
		if t.SystemAttrs[attrRepeatOf] != "" {
			n++
		}
	}
	if n > 0 {
		return n, nil
	}
	rows := Rank(fresh, c.study.Direction())
	top := 0
	for _, r := range rows {
		if top >= c.Spec.Budget.RepeatTop {
			break
		}
		// A pruned trial's value is an early epoch's: it is not a config's
		// result, so only completed trials are repeated.
		if r.Value == nil || r.State != "complete" {
			continue
		}
		top++
		for i := 1; i <= c.Spec.Budget.RepeatSeeds; i++ {
			params := make(map[string]any, len(r.Params)+1)
			for k, v := range r.Params {
				params[k] = v
			}
			params["seed"] = repeatSeed(r.Params, c.Spec.Base, i)
			extra := map[string]string{attrRepeatOf: strconv.Itoa(r.Number), attrRepeatIndex: strconv.Itoa(i)}
			if _, err := enqueueWith(ctx, c.Store, c.study.ID, params, EnqueuedRepeat, extra); err != nil {
				return n, fmt.Errorf("enqueue repeat of trial %d: %w", r.Number, err)
			}
			n++
		}
	}
	if n > 0 {
		c.log().Info("repeating the best configs with new seeds", "configs", top, "seeds", c.Spec.Budget.RepeatSeeds)
		if c.OnPhase != nil {
			c.OnPhase("repeats")
		}
	}
	return n, nil
}

// repeatSeed is the i-th new seed for a config: distinct from the config's
// own seed and deterministic, so a resumed sweep repeats the same runs.
func repeatSeed(params, base map[string]any, i int) int64 {
	seed := int64(42) // sd-scripts' seed when none is set is random; 42 is as good
	for _, m := range []map[string]any{params, base} {
		if v, ok := m["seed"]; ok {
			if f, ok := toFloat(normalizeNumber(v)); ok {
				seed = int64(f)
				break
			}
		}
	}
	return seed + int64(i)*7919
}

// applyRetention deletes the checkpoints that can no longer win, by the
// spec's keep policy: with best-epoch every epoch of a finished trial but
// its best (a failed trial keeps none); with best-trials:N also the best
// epoch of every trial outside the N best. Only scored, finished trials of
// this host are touched, and only files inside their trial directory; each
// deleted checkpoint's epoch record is marked Deleted.
func (c *Controller) applyRetention(ctx context.Context) error {
	keep := c.Spec.Keep
	if keep.Mode == "" || keep.Mode == KeepAll {
		return nil
	}
	trials, err := c.Store.GetAllTrials(c.study.ID)
	if err != nil {
		return fmt.Errorf("read trials: %w", err)
	}
	winners := map[int]bool{}
	if keep.Mode == KeepBestTrials {
		for i, r := range Rank(trials, c.study.Direction()) {
			if i >= keep.Trials || r.Value == nil {
				break
			}
			winners[r.ID] = true
		}
	}
	runs, err := c.Store.Runs(ctx, c.study.ID)
	if err != nil {
		return fmt.Errorf("list runs: %w", err)
	}
	runOf := make(map[int]RunRecord, len(runs))
	for _, r := range runs {
		runOf[r.TrialID] = r
	}
	var freed int64
	var removed []string
	for _, t := range trials {
		if !t.State.IsFinished() || t.SystemAttrs[attrFailReason] == string(runner.ReasonInterrupted) {
			continue
		}
		run, ok := runOf[t.ID]
		if !ok || run.Host != c.Host || run.TrialDir == "" {
			continue
		}
		c.mu.Lock()
		done := c.cleaned[t.ID]
		c.mu.Unlock()
		// A trial is revisited only while it may still drop out of the N best.
		if done && (keep.Mode == KeepBestEpoch || !winners[t.ID]) {
			continue
		}
		// The best candidate (epoch or step) keeps its checkpoint, except
		// in a failed trial or one that dropped out of the N best.
		row := RowFromTrial(t)
		keepBest := t.State != goptuna.TrialStateFail && (keep.Mode != KeepBestTrials || winners[t.ID])
		epochs, err := c.Store.Epochs(ctx, t.ID)
		if err != nil {
			return fmt.Errorf("list epochs of trial %d: %w", t.Number, err)
		}
		for _, e := range epochs {
			if (keepBest && row.IsBest(e)) || e.Deleted || e.Checkpoint == "" {
				continue
			}
			n, err := removeInside(run.TrialDir, e.Checkpoint)
			if err != nil {
				return fmt.Errorf("trial %d %s: %w", t.Number, e.Candidate(), err)
			}
			e.Deleted = true
			if err := c.Store.RecordEpoch(ctx, e); err != nil {
				return fmt.Errorf("mark checkpoint deleted: %w", err)
			}
			if n > 0 {
				freed += n
				removed = append(removed, e.Checkpoint)
			}
		}
		c.mu.Lock()
		if c.cleaned == nil {
			c.cleaned = map[int]bool{}
		}
		// A winner is revisited when it drops out; others are done for good.
		c.cleaned[t.ID] = keep.Mode == KeepBestEpoch || !winners[t.ID]
		c.mu.Unlock()
	}
	if freed > 0 {
		c.mu.Lock()
		c.freed += freed
		c.mu.Unlock()
		sort.Strings(removed)
		c.log().Info("retention: checkpoints deleted", "files", len(removed), "bytes", freed)
		if c.OnFreed != nil {
			c.OnFreed(removed, freed)
		}
		c.addFreedAttr(freed)
	}
	return nil
}

// addFreedAttr adds to the study's running total of freed bytes (for
// `status`). Concurrent workers may lose an addition: it is a report.
func (c *Controller) addFreedAttr(n int64) {
	attrs, err := c.Store.GetStudySystemAttrs(c.study.ID)
	if err != nil {
		return
	}
	total, _ := strconv.ParseInt(attrs[attrFreedBytes], 10, 64)
	_ = c.Store.SetStudySystemAttr(c.study.ID, attrFreedBytes, strconv.FormatInt(total+n, 10))
}

// removeInside deletes path when it lies inside dir and returns its size;
// a file already gone frees nothing and is no error.
func removeInside(dir, path string) (int64, error) {
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) {
		return 0, nil
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stat checkpoint: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("delete checkpoint: %w", err)
	}
	return fi.Size(), nil
}

// EnqueueFile reads known configs from a YAML or JSON file (ReadEnqueueFile:
// all of them are checked before any is enqueued) and enqueues them
// (EnqueueConfigs). It returns how many were added.
func EnqueueFile(ctx context.Context, store Store, studyID int, spec *Spec, path string) (int, error) {
	configs, err := ReadEnqueueFile(spec, path)
	if err != nil {
		return 0, err
	}
	return EnqueueConfigs(ctx, store, studyID, spec, configs)
}

// EnqueueConfigs enqueues configs ReadEnqueueFile returned, each as a
// trial flagged "enqueue". A config already enqueued from a file (same
// values) is skipped, so passing the same file on every resume is
// harmless. It returns how many were added.
func EnqueueConfigs(ctx context.Context, store Store, studyID int, spec *Spec, configs []map[string]any) (int, error) {
	trials, err := store.GetAllTrials(studyID)
	if err != nil {
		return 0, fmt.Errorf("read trials: %w", err)
	}
	// Compared in one canonical form: params stored before whole floats
	// kept their decimal point still match.
	canonical := func(p map[string]any) string {
		raw, err := encodeParams(spec.canonicalParams(p))
		if err != nil {
			return ""
		}
		return string(raw)
	}
	seen := map[string]bool{}
	for _, t := range trials {
		if t.SystemAttrs[attrEnqueued] != EnqueuedFile {
			continue
		}
		if p, err := decodeParams(t.SystemAttrs[attrParams]); err == nil {
			seen[canonical(p)] = true
		}
	}
	added := 0
	for _, cfg := range configs {
		key := canonical(cfg)
		if key != "" && seen[key] {
			continue
		}
		seen[key] = true
		if _, err := Enqueue(ctx, store, studyID, cfg, EnqueuedFile); err != nil {
			return added, fmt.Errorf("enqueue config: %w", err)
		}
		added++
	}
	return added, nil
}

// ReadEnqueueFile reads an --enqueue file — a YAML or JSON list of maps of
// user-facing values, or one map — and checks every value against the
// spec: a search parameter's value must have its type and lie in its range,
// on its step grid or among its choices (a ratio_of param is written as
// the ratio); any other name must be an sd-scripts argument (kohya and
// builtin trainers) with a value of the argument's type. Every problem of
// the file is reported at once, each with the file, line and key, as a
// *SpecError; then nothing may be enqueued. Values come back typed as the
// space types them (a choice 1.0 written as 1 is the choice 1.0).
func ReadEnqueueFile(spec *Spec, path string) ([]map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read enqueue file: %w", err)
	}
	configs, problems := spec.parseEnqueue(path, data)
	if len(problems) > 0 {
		return nil, &SpecError{Problems: problems}
	}
	return configs, nil
}

// parseEnqueue decodes and checks an enqueue file. YAML is a superset of
// JSON, so one decoder reads both, with lines.
func (s *Spec) parseEnqueue(path string, data []byte) ([]map[string]any, []Problem) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, []Problem{yamlSyntaxProblem(path, err)}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil // an empty file enqueues nothing
	}
	p := &specParser{file: path}
	root := deref(doc.Content[0])
	var items []*yaml.Node
	switch root.Kind {
	case yaml.SequenceNode:
		items = root.Content
	case yaml.MappingNode:
		items = []*yaml.Node{root}
	default:
		if root.Tag == "!!null" {
			return nil, nil
		}
		p.errf(root, "", "expected a list of configs (maps of parameter: value), got %s", kindName(root))
		return nil, p.problems
	}
	byName := s.paramIndex()
	out := make([]map[string]any, 0, len(items))
	for i, item := range items {
		where := fmt.Sprintf("config %d", i+1)
		item = deref(item)
		if item.Kind != yaml.MappingNode {
			p.errf(item, where, "expected a map of parameter: value, got %s", kindName(item))
			continue
		}
		entries, _ := p.mapping(item, where, nil)
		cfg := make(map[string]any, len(entries))
		for _, e := range entries {
			field := where + ": " + e.key
			if e.v.Kind != yaml.ScalarNode {
				p.errf(e.v, field, "expected a number, string or bool, got %s", kindName(e.v))
				continue
			}
			v, ok := p.value(e.v, field)
			if !ok {
				continue
			}
			if prm, ok := byName[e.key]; ok {
				cv, msg := prm.checkValue(v)
				if msg != "" {
					p.errf(e.v, field, "%s", msg)
					continue
				}
				cfg[e.key] = cv
				continue
			}
			// The command trainer sees only {param} placeholders, so an
			// argument name means nothing to it unless it is searched.
			arg, isArg := kohya.LookupArg(e.key)
			if !isArg || s.Trainer.Kind == runner.KindCommand {
				p.errf(e.k, field, "%q is neither a search parameter nor an sd-scripts argument%s", e.key, didYouMean(e.key, s.paramNames()))
				continue
			}
			cv, msg := convertArg(arg, v)
			if msg != "" {
				p.errf(e.v, field, "%s", msg)
				continue
			}
			cfg[e.key] = cv
		}
		out = append(out, cfg)
	}
	return out, p.problems
}

func (s *Spec) paramNames() []string {
	out := make([]string, 0, len(s.Search))
	for _, p := range s.Search {
		out = append(out, p.Name)
	}
	return out
}
