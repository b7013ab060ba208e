package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math"
	"strings"
	"sync"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/sweep"
)

// trialCache holds finished trials, which are immutable, per study. Trials
// with number < watermark are all finished and cached; GetAllTrials re-reads
// only from the watermark on.
type trialCache struct {
	mu      sync.RWMutex
	studies map[int]*studyCache
	byID    map[int]*goptuna.FrozenTrial
}

type studyCache struct {
	watermark int
	finished  map[int]*goptuna.FrozenTrial // by number
	// rewrite is the study's rewriteAttr when the cache was filled: the
	// one sanctioned rewrite of finished trials (an objective change)
	// changes it, and every Store then reads the study afresh.
	rewrite string
}

func newTrialCache() *trialCache {
	return &trialCache{studies: map[int]*studyCache{}, byID: map[int]*goptuna.FrozenTrial{}}
}

func (c *trialCache) get(trialID int) (*goptuna.FrozenTrial, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.byID[trialID]
	return t, ok
}

func (c *trialCache) dropStudy(studyID int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropStudyLocked(studyID)
}

func (c *trialCache) dropStudyLocked(studyID int) {
	if sc, ok := c.studies[studyID]; ok {
		for _, t := range sc.finished {
			delete(c.byID, t.ID)
		}
	}
	delete(c.studies, studyID)
}

// distCache keeps parsed distributions by their JSON: thousands of trials
// share a handful of distributions.
type distCache struct {
	mu sync.RWMutex
	m  map[string]interface{}
}

func newDistCache() *distCache { return &distCache{m: map[string]interface{}{}} }

func (c *distCache) parse(js string) (interface{}, error) {
	c.mu.RLock()
	d, ok := c.m[js]
	c.mu.RUnlock()
	if ok {
		return d, nil
	}
	d, err := goptuna.JSONToDistribution([]byte(js))
	if err != nil {
		return nil, fmt.Errorf("parse distribution: %w", err)
	}
	c.mu.Lock()
	c.m[js] = d
	c.mu.Unlock()
	return d, nil
}

// cloneTrial returns t with fresh maps: goptuna's IntersectionSearchSpace
// mutates what it receives.
func cloneTrial(t *goptuna.FrozenTrial) goptuna.FrozenTrial {
	c := *t
	// maps.Clone copies the table wholesale: several times cheaper than
	// re-inserting, and GetAllTrials clones every trial of the study.
	c.IntermediateValues = maps.Clone(t.IntermediateValues)
	c.InternalParams = maps.Clone(t.InternalParams)
	c.Params = maps.Clone(t.Params)
	c.Distributions = maps.Clone(t.Distributions)
	c.UserAttrs = maps.Clone(t.UserAttrs)
	c.SystemAttrs = maps.Clone(t.SystemAttrs)
	return c
}

// loadTrials reads the trials matching cond (a WHERE fragment over alias t)
// with everything they hold, in number order: one query per table.
func (s *Store) loadTrials(ctx context.Context, cond string, args ...interface{}) ([]*goptuna.FrozenTrial, error) {
	type trow struct {
		ID        int             `db:"trial_id"`
		StudyID   int             `db:"study_id"`
		Number    int             `db:"number"`
		State     int             `db:"state"`
		Value     sql.NullFloat64 `db:"value"`
		Nonfinite int             `db:"value_nonfinite"`
		Start     sql.NullInt64   `db:"datetime_start"`
		Complete  sql.NullInt64   `db:"datetime_complete"`
	}
	var rows []trow
	if err := s.db.SelectContext(ctx, &rows, s.rebind(`SELECT t.trial_id, t.study_id, t.number, t.state, t.value,
		t.value_nonfinite, t.datetime_start, t.datetime_complete FROM trials t WHERE `+cond+` ORDER BY t.number`), args...); err != nil {
		return nil, fmt.Errorf("load trials: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	out := make([]*goptuna.FrozenTrial, len(rows))
	byID := make(map[int]*goptuna.FrozenTrial, len(rows))
	for i, r := range rows {
		t := &goptuna.FrozenTrial{
			ID: r.ID, StudyID: r.StudyID, Number: r.Number, State: goptuna.TrialState(r.State),
			DatetimeStart: fromMicro(r.Start), DatetimeComplete: fromMicro(r.Complete),
			IntermediateValues: map[int]float64{}, InternalParams: map[string]float64{},
			Params: map[string]interface{}{}, Distributions: map[string]interface{}{},
			UserAttrs: map[string]string{}, SystemAttrs: map[string]string{},
		}
		switch {
		case r.Nonfinite == 1:
			t.Value = math.NaN()
		case r.Value.Valid:
			t.Value = r.Value.Float64
		}
		out[i] = t
		byID[r.ID] = t
	}
	join := func(table, cols string) string {
		return s.rebind(`SELECT ` + cols + ` FROM ` + table + ` x JOIN trials t ON t.trial_id = x.trial_id WHERE ` + cond)
	}
	if len(rows) <= 500 {
		// A few trials (the usual re-read of unfinished ones): look them up
		// by primary key instead of letting the planner scan child tables.
		ph := strings.Repeat("?,", len(rows))
		ph = ph[:len(ph)-1]
		args = make([]interface{}, len(rows))
		for i, r := range rows {
			args[i] = r.ID
		}
		join = func(table, cols string) string {
			return s.rebind(`SELECT ` + cols + ` FROM ` + table + ` x WHERE x.trial_id IN (` + ph + `)`)
		}
	}
	prow, err := s.db.QueryContext(ctx, join("trial_params", "x.trial_id, x.name, x.value, x.distribution"), args...)
	if err != nil {
		return nil, fmt.Errorf("load params: %w", err)
	}
	for prow.Next() {
		var id int
		var name, dj string
		var v float64
		if err := prow.Scan(&id, &name, &v, &dj); err != nil {
			prow.Close()
			return nil, fmt.Errorf("load params: %w", err)
		}
		t := byID[id]
		if t == nil {
			continue // inserted after the trial query
		}
		d, err := s.dists.parse(dj)
		if err != nil {
			prow.Close()
			return nil, err
		}
		ext, err := goptuna.ToExternalRepresentation(d, v)
		if err != nil {
			prow.Close()
			return nil, fmt.Errorf("load param %q: %w", name, err)
		}
		t.InternalParams[name], t.Distributions[name], t.Params[name] = v, d, ext
	}
	if err := closeRows(prow); err != nil {
		return nil, fmt.Errorf("load params: %w", err)
	}
	vrow, err := s.db.QueryContext(ctx, join("trial_values", "x.trial_id, x.step, x.value"), args...)
	if err != nil {
		return nil, fmt.Errorf("load intermediate values: %w", err)
	}
	for vrow.Next() {
		var id, step int
		var v sql.NullFloat64
		if err := vrow.Scan(&id, &step, &v); err != nil {
			vrow.Close()
			return nil, fmt.Errorf("load intermediate values: %w", err)
		}
		if t := byID[id]; t != nil {
			if v.Valid {
				t.IntermediateValues[step] = v.Float64
			} else {
				t.IntermediateValues[step] = math.NaN()
			}
		}
	}
	if err := closeRows(vrow); err != nil {
		return nil, fmt.Errorf("load intermediate values: %w", err)
	}
	arow, err := s.db.QueryContext(ctx, join("trial_attrs", "x.trial_id, x.kind, x.attr_key, x.value"), args...)
	if err != nil {
		return nil, fmt.Errorf("load attrs: %w", err)
	}
	for arow.Next() {
		var id, kind int
		var k, v string
		if err := arow.Scan(&id, &kind, &k, &v); err != nil {
			arow.Close()
			return nil, fmt.Errorf("load attrs: %w", err)
		}
		if t := byID[id]; t != nil {
			if kind == attrUser {
				t.UserAttrs[k] = v
			} else {
				t.SystemAttrs[k] = v
			}
		}
	}
	if err := closeRows(arow); err != nil {
		return nil, fmt.Errorf("load attrs: %w", err)
	}
	return out, nil
}

func closeRows(r *sql.Rows) error {
	err := r.Err()
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return err
}

// GetTrial returns a trial with fresh maps and concrete distribution value
// types, or goptuna.ErrInvalidTrialID.
func (s *Store) GetTrial(trialID int) (goptuna.FrozenTrial, error) {
	return s.GetTrialCtx(s.ctx, trialID)
}

// GetTrialCtx is GetTrial under ctx.
func (s *Store) GetTrialCtx(ctx context.Context, trialID int) (goptuna.FrozenTrial, error) {
	t, err := s.trial(ctx, trialID)
	if err != nil {
		return goptuna.FrozenTrial{}, err
	}
	return cloneTrial(t), nil
}

// trial returns the shared (cached or freshly read) trial: never mutate it.
func (s *Store) trial(ctx context.Context, trialID int) (*goptuna.FrozenTrial, error) {
	if t, ok := s.cache.get(trialID); ok {
		return t, nil
	}
	ts, err := s.loadTrials(ctx, "t.trial_id = ?", trialID)
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, goptuna.ErrInvalidTrialID
	}
	return ts[0], nil
}

// GetAllTrials returns the study's trials in number order, with fresh maps.
// Finished trials come from the Store's cache; only trials from the first
// unfinished one on are read from the database.
func (s *Store) GetAllTrials(studyID int) ([]goptuna.FrozenTrial, error) {
	return s.GetAllTrialsCtx(s.ctx, studyID)
}

// GetAllTrialsCtx is GetAllTrials under ctx.
func (s *Store) GetAllTrialsCtx(ctx context.Context, studyID int) ([]goptuna.FrozenTrial, error) {
	shared, err := s.TrialsView(ctx, studyID)
	if err != nil {
		return nil, err
	}
	out := make([]goptuna.FrozenTrial, len(shared))
	for i, t := range shared {
		out[i] = cloneTrial(t)
	}
	return out, nil
}

// TrialsView is GetAllTrials without the copies, for read-only consumers
// (the project's samplers, reports): the returned trials and their maps are
// shared and must not be modified. An unknown study gives
// goptuna.ErrInvalidStudyID.
func (s *Store) TrialsView(ctx context.Context, studyID int) ([]*goptuna.FrozenTrial, error) {
	var rewrite string
	err := s.db.GetContext(ctx, &rewrite, s.rebind(`SELECT value FROM study_attrs WHERE study_id = ? AND kind = ? AND attr_key = ?`),
		studyID, attrSystem, rewriteAttr)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get trials of study %d: %w", studyID, err)
	}
	s.cache.mu.Lock()
	if sc := s.cache.studies[studyID]; sc != nil && sc.rewrite != rewrite {
		s.cache.dropStudyLocked(studyID)
	}
	s.cache.mu.Unlock()

	s.cache.mu.RLock()
	sc := s.cache.studies[studyID]
	wm := 0
	if sc != nil {
		wm = sc.watermark
	}
	s.cache.mu.RUnlock()

	fresh, err := s.loadTrials(ctx, "t.study_id = ? AND t.number >= ?", studyID, wm)
	if err != nil {
		return nil, err
	}
	if wm == 0 && len(fresh) == 0 {
		if _, err := s.direction(ctx, studyID); err != nil {
			return nil, err
		}
	}

	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	sc = s.cache.studies[studyID]
	if sc == nil {
		sc = &studyCache{finished: map[int]*goptuna.FrozenTrial{}, rewrite: rewrite}
		s.cache.studies[studyID] = sc
	}
	for _, t := range fresh {
		if t.State.IsFinished() {
			if _, ok := sc.finished[t.Number]; !ok {
				sc.finished[t.Number] = t
				s.cache.byID[t.ID] = t
			}
		}
	}
	for {
		if _, ok := sc.finished[sc.watermark]; !ok {
			break
		}
		sc.watermark++
	}
	out := make([]*goptuna.FrozenTrial, 0, wm+len(fresh))
	for n := 0; n < wm; n++ {
		t, ok := sc.finished[n]
		if !ok {
			return nil, fmt.Errorf("get trials of study %d: cache lost trial %d", studyID, n)
		}
		out = append(out, t)
	}
	for _, t := range fresh {
		if c, ok := sc.finished[t.Number]; ok {
			t = c // one shared copy of each finished trial
		}
		out = append(out, t)
	}
	return out, nil
}

// GetBestTrial returns the best COMPLETE trial by the study's direction,
// leaving out trials scored under an older objective of the sweep
// (ties: lowest number), or goptuna.ErrNoCompletedTrials. Trials whose value
// was NaN/Inf were stored as FAIL and are never the best.
func (s *Store) GetBestTrial(studyID int) (goptuna.FrozenTrial, error) {
	return s.GetBestTrialCtx(s.ctx, studyID)
}

// GetBestTrialCtx is GetBestTrial under ctx.
func (s *Store) GetBestTrialCtx(ctx context.Context, studyID int) (goptuna.FrozenTrial, error) {
	dir, err := s.direction(ctx, studyID)
	if err != nil {
		return goptuna.FrozenTrial{}, err
	}
	order := "ASC"
	if dir == goptuna.StudyDirectionMaximize {
		order = "DESC"
	}
	var id int
	// A trial scored under an older objective of the sweep does not compare.
	err = s.db.GetContext(ctx, &id, s.rebind(`SELECT trial_id FROM trials WHERE study_id = ? AND state = 1
		AND value IS NOT NULL AND value_nonfinite = 0
		AND NOT EXISTS (SELECT 1 FROM trial_attrs a WHERE a.trial_id = trials.trial_id AND a.kind = 1 AND a.attr_key = ?)
		ORDER BY value `+order+`, number ASC LIMIT 1`), studyID, sweep.AttrSuperseded)
	if errors.Is(err, sql.ErrNoRows) {
		return goptuna.FrozenTrial{}, goptuna.ErrNoCompletedTrials
	}
	if err != nil {
		return goptuna.FrozenTrial{}, fmt.Errorf("get best trial: %w", err)
	}
	return s.GetTrialCtx(ctx, id)
}

// GetTrialNumberFromID returns the trial's per-study number.
func (s *Store) GetTrialNumberFromID(trialID int) (int, error) {
	if t, ok := s.cache.get(trialID); ok {
		return t.Number, nil
	}
	var n int
	err := s.db.GetContext(s.ctx, &n, s.rebind(`SELECT number FROM trials WHERE trial_id = ?`), trialID)
	if errors.Is(err, sql.ErrNoRows) {
		return -1, goptuna.ErrInvalidTrialID
	}
	if err != nil {
		return -1, fmt.Errorf("get trial number %d: %w", trialID, err)
	}
	return n, nil
}

// GetTrialParam returns a param's internal value.
func (s *Store) GetTrialParam(trialID int, name string) (float64, error) {
	t, err := s.trial(s.ctx, trialID)
	if err != nil {
		return -1, err
	}
	v, ok := t.InternalParams[name]
	if !ok {
		return -1, fmt.Errorf("get param %q of trial %d: %w", name, trialID, errParamMissing)
	}
	return v, nil
}

var errParamMissing = errors.New("param doesn't exist")

// GetTrialParams returns a fresh map of the trial's external param values.
func (s *Store) GetTrialParams(trialID int) (map[string]interface{}, error) {
	t, err := s.trial(s.ctx, trialID)
	if err != nil {
		return nil, err
	}
	return cloneTrial(t).Params, nil
}

// GetTrialUserAttrs returns a fresh map of the trial's user attributes.
func (s *Store) GetTrialUserAttrs(trialID int) (map[string]string, error) {
	t, err := s.trial(s.ctx, trialID)
	if err != nil {
		return nil, err
	}
	return cloneTrial(t).UserAttrs, nil
}

// GetTrialSystemAttrs returns a fresh map of the trial's system attributes.
func (s *Store) GetTrialSystemAttrs(trialID int) (map[string]string, error) {
	t, err := s.trial(s.ctx, trialID)
	if err != nil {
		return nil, err
	}
	return cloneTrial(t).SystemAttrs, nil
}

func nanValue() float64 { return math.NaN() }
