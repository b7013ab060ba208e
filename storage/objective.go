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

// rewriteAttr (study) changes whenever finished trials are rewritten, so
// every Store's cache of them, in any process, reads them again.
const rewriteAttr = "lorasweep:finished_rewritten"

// markRewrite records a rewrite of the study's finished trials in tx.
func markRewrite(ctx context.Context, s *Store, tx *sqlx.Tx, studyID int, what string) error {
	token := strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + what
	_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO study_attrs (study_id, kind, attr_key, value) VALUES (?, ?, ?, ?)
		ON CONFLICT (study_id, kind, attr_key) DO UPDATE SET value = excluded.value`), studyID, attrSystem, rewriteAttr, token)
	return err
}

// ChangeObjective starts a new objective version of a study in one
// transaction: direction, system attrs (the objective history) and the
// superseded mark on each trial of supersede (trial ID → the direction its
// value was scored in). Every Store, in any process, reads the study's
// finished trials afresh on its next GetAllTrials.
func (s *Store) ChangeObjective(ctx context.Context, studyID int, dir goptuna.StudyDirection, attrs map[string]string, supersede map[int]string) error {
	if dir != goptuna.StudyDirectionMaximize && dir != goptuna.StudyDirectionMinimize {
		return fmt.Errorf("change objective: unknown direction %q", dir)
	}
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.rebind(`UPDATE studies SET direction = ? WHERE study_id = ?`), string(dir), studyID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return goptuna.ErrInvalidStudyID
		}
		for k, v := range attrs {
			if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO study_attrs (study_id, kind, attr_key, value) VALUES (?, ?, ?, ?)
				ON CONFLICT (study_id, kind, attr_key) DO UPDATE SET value = excluded.value`), studyID, attrSystem, k, v); err != nil {
				return err
			}
		}
		for id, d := range supersede {
			var owner int
			err := tx.GetContext(ctx, &owner, s.rebind(`SELECT study_id FROM trials WHERE trial_id = ?`), id)
			if errors.Is(err, sql.ErrNoRows) || (err == nil && owner != studyID) {
				return goptuna.ErrInvalidTrialID
			}
			if err != nil {
				return err
			}
			if err := upsertTrialAttr(ctx, s, tx, id, sweep.AttrSuperseded, d); err != nil {
				return err
			}
		}
		return markRewrite(ctx, s, tx, studyID, "objective")
	})
	s.cache.dropStudy(studyID)
	if err != nil && !isSentinel(err) {
		return fmt.Errorf("change objective of study %d: %w", studyID, err)
	}
	return err
}

// RescoreTrial replaces a finished trial's value, intermediate values, best
// epoch, epoch scores and per-image scores with ones computed under another
// objective version, and clears its superseded mark, in one transaction.
// Finished trials are otherwise immutable: this is the one sanctioned
// rewrite, done when the user resumes with --allow-objective-change.
func (s *Store) RescoreTrial(ctx context.Context, r sweep.RescoredTrial) error {
	nv := finiteOrNull(r.Value)
	if !nv.Valid {
		return fmt.Errorf("rescore trial %d: value %v is not finite", r.TrialID, r.Value)
	}
	var studyID int
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		var row struct {
			Study int `db:"study_id"`
			State int `db:"state"`
		}
		err := tx.GetContext(ctx, &row, s.rebind(`SELECT study_id, state FROM trials WHERE trial_id = ?`), r.TrialID)
		if errors.Is(err, sql.ErrNoRows) {
			return goptuna.ErrInvalidTrialID
		}
		if err != nil {
			return err
		}
		studyID = row.Study
		if st := goptuna.TrialState(row.State); st != goptuna.TrialStateComplete && st != goptuna.TrialStatePruned {
			return goptuna.ErrTrialCannotBeUpdated
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE trials SET value = ?, value_nonfinite = 0 WHERE trial_id = ?`), nv, r.TrialID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM trial_values WHERE trial_id = ?`), r.TrialID); err != nil {
			return err
		}
		for step, v := range r.Intermediate {
			if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO trial_values (trial_id, step, value) VALUES (?, ?, ?)`),
				r.TrialID, step, finiteOrNull(v)); err != nil {
				return err
			}
		}
		best, other, n := sweep.AttrBestEpoch, sweep.AttrBestStep, r.BestEpoch
		var runBest sql.NullInt64
		if r.BestStep > 0 {
			best, other, n = sweep.AttrBestStep, sweep.AttrBestEpoch, r.BestStep
		} else {
			runBest = sql.NullInt64{Int64: int64(r.BestEpoch), Valid: true}
		}
		if err := upsertTrialAttr(ctx, s, tx, r.TrialID, best, strconv.Itoa(n)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM trial_attrs WHERE trial_id = ? AND kind = ? AND attr_key = ?`),
			r.TrialID, attrSystem, other); err != nil {
			return err
		}
		if r.Partial != "" {
			if err := upsertTrialAttr(ctx, s, tx, r.TrialID, sweep.AttrPartial, r.Partial); err != nil {
				return err
			}
		} else if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM trial_attrs WHERE trial_id = ? AND kind = ? AND attr_key = ?`),
			r.TrialID, attrSystem, sweep.AttrPartial); err != nil {
			return err
		}
		if err := upsertTrialAttr(ctx, s, tx, r.TrialID, sweep.AttrObjectiveVersion, strconv.Itoa(r.Version)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM trial_attrs WHERE trial_id = ? AND kind = ? AND attr_key = ?`),
			r.TrialID, attrSystem, sweep.AttrSuperseded); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE runs SET best_epoch = ?, checkpoint = ? WHERE trial_id = ?`),
			runBest, r.Checkpoint, r.TrialID); err != nil {
			return err
		}
		for _, e := range r.Epochs {
			var v sql.NullFloat64
			if e.Value != nil {
				v = finiteOrNull(*e.Value)
			}
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE epochs SET value = ?, components = ?, unscorable = ?, reason = ?,
				objective_version = ? WHERE trial_id = ? AND epoch = ? AND step = ?`),
				v, e.Components, b2i(e.Unscorable), e.Reason, max(1, e.ObjectiveVersion), r.TrialID, e.Epoch, e.Step); err != nil {
				return err
			}
		}
		for _, x := range r.Samples {
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE samples SET scores = ? WHERE trial_id = ? AND path = ?`),
				x.Scores, r.TrialID, x.Path); err != nil {
				return err
			}
		}
		return markRewrite(ctx, s, tx, row.Study, strconv.Itoa(r.TrialID))
	})
	if studyID != 0 {
		s.cache.dropStudy(studyID)
	}
	if err != nil && !isSentinel(err) {
		return fmt.Errorf("rescore trial %d: %w", r.TrialID, err)
	}
	return err
}

func upsertTrialAttr(ctx context.Context, s *Store, tx *sqlx.Tx, trialID int, key, value string) error {
	_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO trial_attrs (trial_id, kind, attr_key, value) VALUES (?, ?, ?, ?)
		ON CONFLICT (trial_id, kind, attr_key) DO UPDATE SET value = excluded.value`), trialID, attrSystem, key, value)
	return err
}
