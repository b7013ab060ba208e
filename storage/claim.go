package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/c-bata/goptuna"
	"github.com/jmoiron/sqlx"

	"github.com/lorasweep/lorasweep/sweep"
)

// Claim atomically starts a trial of the study while fewer than budget
// trials count against it (budget <= 0: unlimited). The oldest WAITING trial
// is claimed first (WAITING→RUNNING); otherwise a new RUNNING trial is
// created. With the budget spent it returns Granted false and no error.
//
// Budget rule: a trial counts once started (RUNNING or finished); a trial
// reaped as interrupted and re-enqueued stops counting, and its retry counts
// once claimed, so an interrupted trial costs the budget once.
func (s *Store) Claim(ctx context.Context, studyID, budget int) (sweep.ClaimResult, error) {
	return s.ClaimAs(ctx, studyID, budget, "", "")
}

// ClaimAs is Claim that also records, in the same transaction, which worker
// on which host holds the trial (a run row whose details StartRun fills in
// later). A worker killed between claiming and starting its trainer then
// still leaves a trial its host can recognise as orphaned on the next start,
// instead of one only the stale-heartbeat reaper frees. An empty workerID
// records nothing.
func (s *Store) ClaimAs(ctx context.Context, studyID, budget int, workerID, host string) (sweep.ClaimResult, error) {
	// The stamp is fixed across attempts: if a COMMIT's answer is lost with
	// the connection, the retry finds the run row the first attempt wrote
	// (this worker, this stamp) and returns that trial, instead of
	// claiming a second one and leaving the first RUNNING with nobody on it.
	return s.claimAt(ctx, studyID, budget, workerID, host, s.claimStamp())
}

// claimAt is ClaimAs with its claim stamp given: calling it again with the
// same worker and stamp after it committed returns the same trial.
func (s *Store) claimAt(ctx context.Context, studyID, budget int, workerID, host string, now int64) (sweep.ClaimResult, error) {
	var res sweep.ClaimResult
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		res = sweep.ClaimResult{}
		// Lock the study row first (PostgreSQL): claims and reaps of one study
		// serialise here, and always in the same order.
		r, err := tx.ExecContext(ctx, s.rebind(`UPDATE studies SET next_number = next_number WHERE study_id = ?`), studyID)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return goptuna.ErrInvalidStudyID
		}
		if workerID != "" {
			var done struct {
				ID     int `db:"trial_id"`
				Number int `db:"number"`
			}
			err := tx.GetContext(ctx, &done, s.rebind(`SELECT t.trial_id, t.number FROM runs r JOIN trials t ON t.trial_id = r.trial_id
				WHERE t.study_id = ? AND r.worker_id = ? AND r.started = ? AND t.state = 0`), studyID, workerID, now)
			if err == nil {
				res = sweep.ClaimResult{TrialID: done.ID, Number: done.Number, Granted: true, Enqueued: s.hasFixedParams(ctx, tx, done.ID)}
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		if budget > 0 {
			var counted int
			if err := tx.GetContext(ctx, &counted, s.rebind(`SELECT COUNT(*) FROM trials
				WHERE study_id = ? AND counted = 1 AND state <> 4`), studyID); err != nil {
				return err
			}
			if counted >= budget {
				return nil
			}
		}
		var w struct {
			ID     int `db:"trial_id"`
			Number int `db:"number"`
		}
		err = tx.GetContext(ctx, &w, s.rebind(`SELECT trial_id, number FROM trials WHERE study_id = ? AND state = 4
			ORDER BY number LIMIT 1`+s.forUpdate()), studyID)
		switch {
		case err == nil:
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE trials SET state = 0, datetime_start = ?, heartbeat = ?
				WHERE trial_id = ? AND state = 4`), now, now, w.ID); err != nil {
				return err
			}
			res = sweep.ClaimResult{TrialID: w.ID, Number: w.Number, Granted: true, Enqueued: true}
			return s.recordClaimant(ctx, tx, w.ID, workerID, host, now)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		num, err := s.nextNumber(ctx, tx, studyID)
		if err != nil {
			return err
		}
		var id int
		if err := tx.GetContext(ctx, &id, s.rebind(`INSERT INTO trials (study_id, number, state, datetime_start, heartbeat)
			VALUES (?, ?, 0, ?, ?) RETURNING trial_id`), studyID, num, now, now); err != nil {
			return err
		}
		res = sweep.ClaimResult{TrialID: id, Number: num, Granted: true}
		return s.recordClaimant(ctx, tx, id, workerID, host, now)
	})
	if err == goptuna.ErrInvalidStudyID {
		return sweep.ClaimResult{}, err
	}
	if err != nil {
		return sweep.ClaimResult{}, fmt.Errorf("claim trial: %w", err)
	}
	return res, nil
}

// claimStamp is the claim's start time in stored microseconds, strictly
// increasing within this Store, so that (worker, stamp) names one claim.
func (s *Store) claimStamp() int64 {
	for {
		last := s.lastClaim.Load()
		now := micro(time.Now())
		if now <= last {
			now = last + 1
		}
		if s.lastClaim.CompareAndSwap(last, now) {
			return now
		}
	}
}

// hasFixedParams reports whether a trial was enqueued (it carries fixed
// params or lorasweep:params), as ClaimResult.Enqueued says.
func (s *Store) hasFixedParams(ctx context.Context, tx *sqlx.Tx, trialID int) bool {
	var n int
	err := tx.GetContext(ctx, &n, s.rebind(`SELECT COUNT(*) FROM trial_attrs WHERE trial_id = ? AND attr_key IN (?, ?)`),
		trialID, AttrFixedParams, "lorasweep:params")
	return err == nil && n > 0
}

// recordClaimant writes the claiming worker's run row (see ClaimAs).
func (s *Store) recordClaimant(ctx context.Context, tx *sqlx.Tx, trialID int, workerID, host string, now int64) error {
	if workerID == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO runs (trial_id, worker_id, host, started, heartbeat) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (trial_id) DO UPDATE SET worker_id = excluded.worker_id, host = excluded.host,
		started = excluded.started, heartbeat = excluded.heartbeat`), trialID, workerID, host, now, now)
	return err
}

// CountTrials reports how many trials of the study count against the budget
// (see Claim) and how many are finished.
func (s *Store) CountTrials(ctx context.Context, studyID int) (counted, finished int, err error) {
	var c struct {
		Counted  sql.NullInt64 `db:"counted"`
		Finished sql.NullInt64 `db:"finished"`
	}
	err = s.db.GetContext(ctx, &c, s.rebind(`SELECT
		SUM(CASE WHEN counted = 1 AND state <> 4 THEN 1 ELSE 0 END) AS counted,
		SUM(CASE WHEN state IN (1, 2, 3) THEN 1 ELSE 0 END) AS finished
		FROM trials WHERE study_id = ?`), studyID)
	if err != nil {
		return 0, 0, fmt.Errorf("count trials: %w", err)
	}
	return int(c.Counted.Int64), int(c.Finished.Int64), nil
}

// Heartbeat touches a RUNNING trial's heartbeat (and its run's). A trial
// that is no longer RUNNING — reaped, or finished elsewhere — gives
// goptuna.ErrTrialCannotBeUpdated, so its worker learns it lost the trial.
func (s *Store) Heartbeat(ctx context.Context, trialID int) error {
	now := micro(time.Now())
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		r, err := tx.ExecContext(ctx, s.rebind(`UPDATE trials SET heartbeat = ? WHERE trial_id = ? AND state = 0`), now, trialID)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			var st int
			err := tx.GetContext(ctx, &st, s.rebind(`SELECT state FROM trials WHERE trial_id = ?`), trialID)
			if errors.Is(err, sql.ErrNoRows) {
				return goptuna.ErrInvalidTrialID
			}
			if err != nil {
				return err
			}
			return goptuna.ErrTrialCannotBeUpdated
		}
		_, err = tx.ExecContext(ctx, s.rebind(`UPDATE runs SET heartbeat = ? WHERE trial_id = ?`), now, trialID)
		return err
	})
	if err == nil || isSentinel(err) {
		return err
	}
	return fmt.Errorf("heartbeat trial %d: %w", trialID, err)
}

// ReapStale fails RUNNING trials of the study whose heartbeat is older than
// staleAfter as FAIL(interrupted) and, when retry is true, enqueues a WAITING
// copy of each with the same params (fixed_params, lorasweep:retry_of).
func (s *Store) ReapStale(ctx context.Context, studyID int, staleAfter time.Duration, retry bool) ([]sweep.ReapedTrial, error) {
	maxRetries := 0
	if retry {
		maxRetries = -1
	}
	return s.ReapStaleLimit(ctx, studyID, staleAfter, maxRetries)
}

// ReapStaleLimit is ReapStale with the sweep's retry policy: a reaped trial
// is re-enqueued while its chain has spent fewer than maxRetries retries
// (negative: always, spending none; zero: never). The copy carries
// lorasweep:retry_of (the reaped trial's number) and lorasweep:retry_count
// (retries spent); the reaped trial stops counting against the budget only
// when a copy was enqueued.
func (s *Store) ReapStaleLimit(ctx context.Context, studyID int, staleAfter time.Duration, maxRetries int) ([]sweep.ReapedTrial, error) {
	return s.ReapStaleExcept(ctx, studyID, staleAfter, maxRetries, "")
}

// ReapStaleExcept is ReapStaleLimit that leaves alone the trials whose run
// belongs to workerID: a worker reaping while it runs knows its own trials
// are alive, however late a heartbeat (a long GC pause, a busy disk) — only
// other workers' trials can be orphaned. An empty workerID excludes none.
func (s *Store) ReapStaleExcept(ctx context.Context, studyID int, staleAfter time.Duration, maxRetries int, workerID string) ([]sweep.ReapedTrial, error) {
	var reaped []sweep.ReapedTrial
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		reaped = nil
		r, err := tx.ExecContext(ctx, s.rebind(`UPDATE studies SET next_number = next_number WHERE study_id = ?`), studyID)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return goptuna.ErrInvalidStudyID
		}
		now := time.Now()
		cutoff := micro(now.Add(-staleAfter))
		var stale []struct {
			ID     int   `db:"trial_id"`
			Number int   `db:"number"`
			Last   int64 `db:"last_seen"`
		}
		if err := tx.SelectContext(ctx, &stale, s.rebind(`SELECT trial_id, number, COALESCE(heartbeat, datetime_start) AS last_seen FROM trials
			WHERE study_id = ? AND state = 0 AND COALESCE(heartbeat, datetime_start) < ?
			AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.trial_id = trials.trial_id AND runs.worker_id <> '' AND runs.worker_id = ?)
			ORDER BY number`+s.forUpdate()),
			studyID, cutoff, workerID); err != nil {
			return err
		}
		for _, st := range stale {
			// A reaped trial ended when it was last seen alive, not now: its
			// duration must not count the time until someone noticed.
			retryID, err := s.failInterrupted(ctx, tx, studyID, st.ID, st.Number, maxRetries, time.UnixMicro(st.Last))
			if err != nil {
				return err
			}
			reaped = append(reaped, sweep.ReapedTrial{TrialID: st.ID, Number: st.Number, RetryID: retryID})
		}
		return nil
	})
	if err == goptuna.ErrInvalidStudyID {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("reap stale trials: %w", err)
	}
	return reaped, nil
}

// enqueueRetry inserts a WAITING copy of a reaped trial (params, attrs) and
// stops the original counting; it returns 0 when the retry limit is reached.
func (s *Store) enqueueRetry(ctx context.Context, tx *sqlx.Tx, studyID, trialID, number, maxRetries int) (int, error) {
	var attrs []struct {
		Kind  int    `db:"kind"`
		Key   string `db:"attr_key"`
		Value string `db:"value"`
	}
	if err := tx.SelectContext(ctx, &attrs, s.rebind(`SELECT kind, attr_key, value FROM trial_attrs WHERE trial_id = ?`), trialID); err != nil {
		return 0, err
	}
	base := goptuna.FrozenTrial{
		State: goptuna.TrialStateWaiting, InternalParams: map[string]float64{}, Distributions: map[string]interface{}{},
		UserAttrs: map[string]string{}, SystemAttrs: map[string]string{},
	}
	count := 0
	for _, a := range attrs {
		switch {
		case a.Kind == attrUser:
			base.UserAttrs[a.Key] = a.Value
		case a.Key == AttrRetryCount:
			count, _ = strconv.Atoi(a.Value)
		case a.Key == AttrFailReason, a.Key == AttrRetryOf, a.Key == AttrFixedParams:
		default:
			base.SystemAttrs[a.Key] = a.Value
		}
	}
	if maxRetries > 0 && count >= maxRetries {
		return 0, nil
	}
	// A limited re-enqueue spends one of the chain's retries; an unlimited
	// one (lorasweep's own death interrupted the trial, not its trainer)
	// spends none, so later limited ones still find them.
	spent := count
	if maxRetries > 0 {
		spent++
	}
	var params []struct {
		Name  string  `db:"name"`
		Value float64 `db:"value"`
		Dist  string  `db:"distribution"`
	}
	if err := tx.SelectContext(ctx, &params, s.rebind(`SELECT name, value, distribution FROM trial_params WHERE trial_id = ?`), trialID); err != nil {
		return 0, err
	}
	for _, p := range params {
		d, err := s.dists.parse(p.Dist)
		if err != nil {
			return 0, err
		}
		base.InternalParams[p.Name], base.Distributions[p.Name] = p.Value, d
	}
	fp, err := fixedParamsJSON(base.InternalParams)
	if err != nil {
		return 0, err
	}
	base.SystemAttrs[AttrFixedParams] = fp
	base.SystemAttrs[AttrRetryOf] = strconv.Itoa(number)
	base.SystemAttrs[AttrRetryCount] = strconv.Itoa(spent)
	// The copy is WAITING: params are kept as fixed_params only, so the
	// sampler's suggest path re-applies them (goptuna reads fixed_params) and
	// the copy holds no params until it runs.
	base.InternalParams, base.Distributions = nil, nil
	id, err := s.insertTrial(ctx, tx, studyID, base, true)
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE trials SET counted = 0 WHERE trial_id = ?`), trialID); err != nil {
		return 0, err
	}
	return id, nil
}

// failInterrupted fails a RUNNING trial as interrupted inside tx (the study
// row already locked) and enqueues its retry by the policy of ReapStaleLimit.
func (s *Store) failInterrupted(ctx context.Context, tx *sqlx.Tx, studyID, trialID, number, maxRetries int, now time.Time) (int, error) {
	r, err := tx.ExecContext(ctx, s.rebind(`UPDATE trials SET state = 3, datetime_complete = ? WHERE trial_id = ? AND state = 0`),
		micro(now), trialID)
	if err != nil {
		return 0, err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return 0, goptuna.ErrTrialCannotBeUpdated
	}
	if err := s.upsertTrialAttr(ctx, tx, trialID, attrSystem, AttrFailReason, ReasonInterrupted); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE runs SET reason = ?, ended = COALESCE(ended, ?) WHERE trial_id = ?`),
		ReasonInterrupted, micro(now), trialID); err != nil {
		return 0, err
	}
	if maxRetries == 0 {
		return 0, nil
	}
	return s.enqueueRetry(ctx, tx, studyID, trialID, number, maxRetries)
}

// FailInterrupted marks a RUNNING trial FAIL(interrupted) — its own worker
// stopped it — and, when retry is true, enqueues a WAITING copy as ReapStale
// does. It returns the copy's ID (0 when none). A trial that is not RUNNING
// gives goptuna.ErrTrialCannotBeUpdated; an unknown one ErrInvalidTrialID.
func (s *Store) FailInterrupted(ctx context.Context, trialID int, retry bool) (int, error) {
	maxRetries := 0
	if retry {
		maxRetries = -1
	}
	return s.FailInterruptedLimit(ctx, trialID, maxRetries)
}

// FailInterruptedLimit is FailInterrupted with ReapStaleLimit's retry policy.
func (s *Store) FailInterruptedLimit(ctx context.Context, trialID, maxRetries int) (int, error) {
	studyID, err := s.studyOfTrial(ctx, trialID)
	if err != nil {
		return 0, err
	}
	var retryID int
	err = s.write(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE studies SET next_number = next_number WHERE study_id = ?`), studyID); err != nil {
			return err
		}
		var num int
		if err := tx.GetContext(ctx, &num, s.rebind(`SELECT number FROM trials WHERE trial_id = ?`+s.forUpdate()), trialID); err != nil {
			return err
		}
		var err error
		retryID, err = s.failInterrupted(ctx, tx, studyID, trialID, num, maxRetries, time.Now())
		return err
	})
	if err == nil || isSentinel(err) {
		return retryID, err
	}
	return 0, fmt.Errorf("fail interrupted trial %d: %w", trialID, err)
}

func (s *Store) studyOfTrial(ctx context.Context, trialID int) (int, error) {
	var id int
	err := s.db.GetContext(ctx, &id, s.rebind(`SELECT study_id FROM trials WHERE trial_id = ?`), trialID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, goptuna.ErrInvalidTrialID
	}
	if err != nil {
		return 0, fmt.Errorf("get study of trial %d: %w", trialID, err)
	}
	return id, nil
}
