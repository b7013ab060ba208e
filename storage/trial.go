package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/c-bata/goptuna"
	"github.com/jmoiron/sqlx"

	"github.com/lorasweep/lorasweep/sweep"
)

// System attributes the storage itself writes or reads.
const (
	// AttrFixedParams is goptuna's enqueue attribute: JSON of internal values.
	AttrFixedParams = "fixed_params"
	// AttrFailReason says why a trial failed (nan, oom, crash, interrupted…).
	AttrFailReason = "lorasweep:fail_reason"
	// AttrRetryOf is the number of the trial a retry copies.
	AttrRetryOf = sweep.AttrRetryOf
	// AttrRetryCount is how many times the original trial has been retried.
	AttrRetryCount = "lorasweep:retry_count"
)

// Failure reasons the storage writes itself.
const (
	ReasonNaN         = "nan"
	ReasonInterrupted = "interrupted"
)

// ErrParamConflict is returned by SetTrialParam when the name is already set
// to another value or distribution.
var ErrParamConflict = errors.New("param already set to another value")

// CreateNewTrial creates a RUNNING trial with the study's next number and
// returns its ID. It does not look at the budget: use Claim for that.
func (s *Store) CreateNewTrial(studyID int) (int, error) {
	var id int
	err := s.write(s.ctx, func(tx *sqlx.Tx) error {
		num, err := s.nextNumber(s.ctx, tx, studyID)
		if err != nil {
			return err
		}
		now := micro(time.Now())
		return tx.GetContext(s.ctx, &id, s.rebind(`INSERT INTO trials (study_id, number, state, datetime_start, heartbeat)
			VALUES (?, ?, ?, ?, ?) RETURNING trial_id`), studyID, num, int(goptuna.TrialStateRunning), now, now)
	})
	if err == goptuna.ErrInvalidStudyID {
		return -1, err
	}
	if err != nil {
		return -1, fmt.Errorf("create trial: %w", err)
	}
	return id, nil
}

// nextNumber takes the study's next trial number; the UPDATE also locks the
// study row on PostgreSQL, serialising creators per study.
func (s *Store) nextNumber(ctx context.Context, tx *sqlx.Tx, studyID int) (int, error) {
	var num int
	err := tx.GetContext(ctx, &num, s.rebind(`UPDATE studies SET next_number = next_number + 1 WHERE study_id = ? RETURNING next_number - 1`), studyID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, goptuna.ErrInvalidStudyID
	}
	return num, err
}

// CloneTrial inserts a whole trial (state, value, params, intermediate
// values, attrs, times) in one transaction with the study's next number.
// goptuna's EnqueueTrial uses it with state WAITING and fixed_params.
func (s *Store) CloneTrial(studyID int, base goptuna.FrozenTrial) (int, error) {
	var id int
	err := s.write(s.ctx, func(tx *sqlx.Tx) error {
		var err error
		id, err = s.insertTrial(s.ctx, tx, studyID, base, true)
		return err
	})
	if err == goptuna.ErrInvalidStudyID {
		return -1, err
	}
	if err != nil {
		return -1, fmt.Errorf("clone trial: %w", err)
	}
	return id, nil
}

func (s *Store) insertTrial(ctx context.Context, tx *sqlx.Tx, studyID int, base goptuna.FrozenTrial, counted bool) (int, error) {
	num, err := s.nextNumber(ctx, tx, studyID)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	state := base.State
	value := sql.NullFloat64{Float64: base.Value, Valid: state.IsFinished()}
	nonfinite := 0
	if math.IsNaN(base.Value) || math.IsInf(base.Value, 0) {
		value, nonfinite = sql.NullFloat64{}, 1
	}
	failNaN := nonfinite == 1 && (state == goptuna.TrialStateComplete || state == goptuna.TrialStatePruned)
	if failNaN {
		state = goptuna.TrialStateFail
	}
	start := base.DatetimeStart
	if start.IsZero() {
		start = now
	}
	complete := base.DatetimeComplete
	if state.IsFinished() && complete.IsZero() {
		complete = now
	}
	if !state.IsFinished() {
		complete = time.Time{}
	}
	var hb sql.NullInt64
	if state == goptuna.TrialStateRunning {
		hb = sql.NullInt64{Int64: micro(now), Valid: true}
	}
	cnt := 0
	if counted {
		cnt = 1
	}
	var id int
	if err := tx.GetContext(ctx, &id, s.rebind(`INSERT INTO trials
		(study_id, number, state, value, value_nonfinite, datetime_start, datetime_complete, heartbeat, counted)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING trial_id`),
		studyID, num, int(state), value, nonfinite, micro(start), nullMicro(complete), hb, cnt); err != nil {
		return 0, err
	}
	for name, ir := range base.InternalParams {
		d, ok := base.Distributions[name]
		if !ok {
			return 0, fmt.Errorf("param %q has no distribution", name)
		}
		dj, err := goptuna.DistributionToJSON(d)
		if err != nil {
			return 0, fmt.Errorf("param %q: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO trial_params (trial_id, name, value, distribution) VALUES (?, ?, ?, ?)`),
			id, name, ir, string(dj)); err != nil {
			return 0, err
		}
	}
	for step, v := range base.IntermediateValues {
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO trial_values (trial_id, step, value) VALUES (?, ?, ?)`),
			id, step, finiteOrNull(v)); err != nil {
			return 0, err
		}
	}
	for kind, m := range map[int]map[string]string{attrUser: base.UserAttrs, attrSystem: base.SystemAttrs} {
		for k, v := range m {
			if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO trial_attrs (trial_id, kind, attr_key, value) VALUES (?, ?, ?, ?)`),
				id, kind, k, v); err != nil {
				return 0, err
			}
		}
	}
	if failNaN {
		if err := s.upsertTrialAttr(ctx, tx, id, attrSystem, AttrFailReason, ReasonNaN); err != nil {
			return 0, err
		}
	}
	return id, nil
}

func finiteOrNull(v float64) sql.NullFloat64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return sql.NullFloat64{}
	}
	return sql.NullFloat64{Float64: v, Valid: true}
}

// lockWritable checks, under the transaction's lock, that the trial exists
// and is not finished; it returns the sentinels unwrapped.
func (s *Store) lockWritable(ctx context.Context, tx *sqlx.Tx, trialID int) (goptuna.TrialState, error) {
	var st int
	err := tx.GetContext(ctx, &st, s.rebind(`SELECT state FROM trials WHERE trial_id = ?`+s.forUpdate()), trialID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, goptuna.ErrInvalidTrialID
	}
	if err != nil {
		return 0, err
	}
	if goptuna.TrialState(st).IsFinished() {
		return goptuna.TrialState(st), goptuna.ErrTrialCannotBeUpdated
	}
	return goptuna.TrialState(st), nil
}

// trialWrite runs fn on an unfinished trial; sentinels come back unwrapped,
// other errors wrapped with what.
func (s *Store) trialWrite(ctx context.Context, what string, trialID int, fn func(tx *sqlx.Tx) error) error {
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		if _, err := s.lockWritable(ctx, tx, trialID); err != nil {
			return err
		}
		return fn(tx)
	})
	if err == nil || isSentinel(err) {
		return err
	}
	return fmt.Errorf("%s of trial %d: %w", what, trialID, err)
}

func isSentinel(err error) bool {
	switch err {
	case goptuna.ErrInvalidTrialID, goptuna.ErrTrialCannotBeUpdated, goptuna.ErrInvalidStudyID, goptuna.ErrNoCompletedTrials:
		return true
	}
	return false
}

// SetTrialValue sets an unfinished trial's value. A NaN or ±Inf value is not
// stored as a number: the trial will end FAIL(nan) when told COMPLETE or
// PRUNED.
func (s *Store) SetTrialValue(trialID int, value float64) error {
	nv := finiteOrNull(value)
	nonfinite := 0
	if !nv.Valid {
		nonfinite = 1
	}
	return s.trialWrite(s.ctx, "set value", trialID, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(s.ctx, s.rebind(`UPDATE trials SET value = ?, value_nonfinite = ? WHERE trial_id = ?`), nv, nonfinite, trialID)
		return err
	})
}

// SetTrialIntermediateValue records an unfinished trial's value at step. A
// step written again keeps the latest value; non-finite values read back as
// NaN.
func (s *Store) SetTrialIntermediateValue(trialID, step int, value float64) error {
	return s.trialWrite(s.ctx, "set intermediate value", trialID, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(s.ctx, s.rebind(`INSERT INTO trial_values (trial_id, step, value) VALUES (?, ?, ?)
			ON CONFLICT (trial_id, step) DO UPDATE SET value = excluded.value`), trialID, step, finiteOrNull(value))
		return err
	})
}

// SetTrialParam stores an unfinished trial's param: internal value and
// distribution (a goptuna distribution value type). Setting a name again
// with the same value and distribution is a no-op; with others it gives
// ErrParamConflict.
func (s *Store) SetTrialParam(trialID int, name string, internal float64, distribution interface{}) error {
	dj, err := goptuna.DistributionToJSON(distribution)
	if err != nil {
		return fmt.Errorf("set param %q of trial %d: %w", name, trialID, err)
	}
	return s.trialWrite(s.ctx, "set param "+name, trialID, func(tx *sqlx.Tx) error {
		var old struct {
			Value float64 `db:"value"`
			Dist  string  `db:"distribution"`
		}
		err := tx.GetContext(s.ctx, &old, s.rebind(`SELECT value, distribution FROM trial_params WHERE trial_id = ? AND name = ?`), trialID, name)
		switch {
		case err == nil:
			if old.Value == internal && old.Dist == string(dj) {
				return nil
			}
			return ErrParamConflict
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = tx.ExecContext(s.ctx, s.rebind(`INSERT INTO trial_params (trial_id, name, value, distribution) VALUES (?, ?, ?, ?)`),
			trialID, name, internal, string(dj))
		return err
	})
}

// SetTrialState moves an unfinished trial to state as a compare-and-set: a
// finished trial, or a move to the state it already has, gives
// goptuna.ErrTrialCannotBeUpdated; an unknown trial goptuna.ErrInvalidTrialID.
// WAITING→RUNNING restarts the trial's clock and heartbeat. COMPLETE or
// PRUNED with a non-finite value becomes FAIL(nan).
func (s *Store) SetTrialState(trialID int, state goptuna.TrialState) error {
	return s.setTrialState(s.ctx, trialID, state)
}

func (s *Store) setTrialState(ctx context.Context, trialID int, state goptuna.TrialState) error {
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		var cur struct {
			State     int `db:"state"`
			Nonfinite int `db:"value_nonfinite"`
		}
		err := tx.GetContext(ctx, &cur, s.rebind(`SELECT state, value_nonfinite FROM trials WHERE trial_id = ?`+s.forUpdate()), trialID)
		if errors.Is(err, sql.ErrNoRows) {
			return goptuna.ErrInvalidTrialID
		}
		if err != nil {
			return err
		}
		if goptuna.TrialState(cur.State).IsFinished() || goptuna.TrialState(cur.State) == state {
			return goptuna.ErrTrialCannotBeUpdated
		}
		to := state
		failNaN := cur.Nonfinite == 1 && (to == goptuna.TrialStateComplete || to == goptuna.TrialStatePruned)
		if failNaN {
			to = goptuna.TrialStateFail
		}
		now := micro(time.Now())
		var res sql.Result
		switch {
		case to.IsFinished():
			res, err = tx.ExecContext(ctx, s.rebind(`UPDATE trials SET state = ?, datetime_complete = ?
				WHERE trial_id = ? AND state IN (0, 4)`), int(to), now, trialID)
		case to == goptuna.TrialStateRunning:
			res, err = tx.ExecContext(ctx, s.rebind(`UPDATE trials SET state = ?, datetime_start = ?, heartbeat = ?
				WHERE trial_id = ? AND state = 4`), int(to), now, now, trialID)
		default:
			res, err = tx.ExecContext(ctx, s.rebind(`UPDATE trials SET state = ?, heartbeat = NULL
				WHERE trial_id = ? AND state = 0`), int(to), trialID)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return goptuna.ErrTrialCannotBeUpdated
		}
		if failNaN {
			if err := s.upsertTrialAttr(ctx, tx, trialID, attrSystem, AttrFailReason, ReasonNaN); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE runs SET reason = ? WHERE trial_id = ?`), ReasonNaN, trialID); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || isSentinel(err) {
		return err
	}
	return fmt.Errorf("set state of trial %d: %w", trialID, err)
}

// SetTrialUserAttr upserts a user attribute of an unfinished trial.
func (s *Store) SetTrialUserAttr(trialID int, key, value string) error {
	return s.trialWrite(s.ctx, "set user attr "+key, trialID, func(tx *sqlx.Tx) error {
		return s.upsertTrialAttr(s.ctx, tx, trialID, attrUser, key, value)
	})
}

// SetTrialSystemAttr upserts a system attribute of an unfinished trial.
// lorasweep:fail_reason is also copied to the trial's run record.
func (s *Store) SetTrialSystemAttr(trialID int, key, value string) error {
	return s.trialWrite(s.ctx, "set system attr "+key, trialID, func(tx *sqlx.Tx) error {
		if err := s.upsertTrialAttr(s.ctx, tx, trialID, attrSystem, key, value); err != nil {
			return err
		}
		if key == AttrFailReason {
			_, err := tx.ExecContext(s.ctx, s.rebind(`UPDATE runs SET reason = ? WHERE trial_id = ?`), value, trialID)
			return err
		}
		return nil
	})
}

func (s *Store) upsertTrialAttr(ctx context.Context, tx *sqlx.Tx, trialID, kind int, key, value string) error {
	_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO trial_attrs (trial_id, kind, attr_key, value) VALUES (?, ?, ?, ?)
		ON CONFLICT (trial_id, kind, attr_key) DO UPDATE SET value = excluded.value`), trialID, kind, key, value)
	return err
}

// fixedParamsJSON encodes internal params the way goptuna's EnqueueTrial does.
func fixedParamsJSON(internal map[string]float64) (string, error) {
	b, err := json.Marshal(internal)
	return string(b), err
}
