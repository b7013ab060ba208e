package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/c-bata/goptuna"
	"github.com/jmoiron/sqlx"
)

// ErrStudyNotFound is returned by GetStudyIDFromName for an unknown name;
// goptuna's LoadStudy relies on an error there.
var ErrStudyNotFound = errors.New("study not found")

// ErrStudyExists is returned by CreateNewStudy for a name already taken.
var ErrStudyExists = errors.New("study already exists")

const (
	attrUser   = 0
	attrSystem = 1
)

// CreateNewStudy creates a study with direction minimize and returns its ID.
// An empty name becomes "no-name-<random hex>"; a duplicate name gives
// ErrStudyExists.
func (s *Store) CreateNewStudy(name string) (int, error) {
	return s.CreateStudyCtx(s.ctx, name, goptuna.StudyDirectionMinimize)
}

// CreateStudyCtx creates a study with the given direction in one
// transaction (goptuna's CreateStudy needs two calls) and returns its ID.
func (s *Store) CreateStudyCtx(ctx context.Context, name string, dir goptuna.StudyDirection) (int, error) {
	if name == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("create study: %w", err)
		}
		name = goptuna.DefaultStudyNamePrefix + hex.EncodeToString(b[:])
	}
	if dir != goptuna.StudyDirectionMaximize && dir != goptuna.StudyDirectionMinimize {
		return 0, fmt.Errorf("create study %q: unknown direction %q", name, dir)
	}
	var id int
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.GetContext(ctx, &n, s.rebind(`SELECT COUNT(*) FROM studies WHERE study_name = ?`), name); err != nil {
			return err
		}
		if n > 0 {
			return ErrStudyExists
		}
		return tx.GetContext(ctx, &id, s.rebind(
			`INSERT INTO studies (study_name, direction, created_at) VALUES (?, ?, ?) RETURNING study_id`),
			name, string(dir), micro(time.Now()))
	})
	if err != nil {
		return 0, fmt.Errorf("create study %q: %w", name, err)
	}
	return id, nil
}

// DeleteStudy deletes a study with its trials and every record of them.
func (s *Store) DeleteStudy(studyID int) error {
	err := s.write(s.ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(s.ctx, s.rebind(`DELETE FROM studies WHERE study_id = ?`), studyID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return goptuna.ErrInvalidStudyID
		}
		return nil
	})
	if err != nil {
		if err == goptuna.ErrInvalidStudyID {
			return err
		}
		return fmt.Errorf("delete study %d: %w", studyID, err)
	}
	s.cache.dropStudy(studyID)
	return nil
}

// SetStudyDirection sets the study's direction (minimize or maximize).
func (s *Store) SetStudyDirection(studyID int, direction goptuna.StudyDirection) error {
	if direction != goptuna.StudyDirectionMaximize && direction != goptuna.StudyDirectionMinimize {
		return fmt.Errorf("set study direction: unknown direction %q", direction)
	}
	res, err := s.db.ExecContext(s.ctx, s.rebind(`UPDATE studies SET direction = ? WHERE study_id = ?`), string(direction), studyID)
	if err != nil {
		return fmt.Errorf("set study direction: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return goptuna.ErrInvalidStudyID
	}
	return nil
}

// SetStudyUserAttr upserts a user attribute of the study.
func (s *Store) SetStudyUserAttr(studyID int, key, value string) error {
	return s.setStudyAttr(s.ctx, studyID, attrUser, key, value)
}

// SetStudySystemAttr upserts a system attribute of the study.
func (s *Store) SetStudySystemAttr(studyID int, key, value string) error {
	return s.setStudyAttr(s.ctx, studyID, attrSystem, key, value)
}

func (s *Store) setStudyAttr(ctx context.Context, studyID, kind int, key, value string) error {
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.GetContext(ctx, &n, s.rebind(`SELECT COUNT(*) FROM studies WHERE study_id = ?`), studyID); err != nil {
			return err
		}
		if n == 0 {
			return goptuna.ErrInvalidStudyID
		}
		_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO study_attrs (study_id, kind, attr_key, value) VALUES (?, ?, ?, ?)
			ON CONFLICT (study_id, kind, attr_key) DO UPDATE SET value = excluded.value`), studyID, kind, key, value)
		return err
	})
	if err != nil && err != goptuna.ErrInvalidStudyID {
		return fmt.Errorf("set study attr %q: %w", key, err)
	}
	return err
}

// GetStudyIDFromName returns the ID of the named study, or ErrStudyNotFound.
func (s *Store) GetStudyIDFromName(name string) (int, error) {
	var id int
	err := s.db.GetContext(s.ctx, &id, s.rebind(`SELECT study_id FROM studies WHERE study_name = ?`), name)
	if errors.Is(err, sql.ErrNoRows) {
		return -1, ErrStudyNotFound
	}
	if err != nil {
		return -1, fmt.Errorf("get study %q: %w", name, err)
	}
	return id, nil
}

// GetStudyIDFromTrialID returns the study of a trial, or
// goptuna.ErrInvalidTrialID.
func (s *Store) GetStudyIDFromTrialID(trialID int) (int, error) {
	var id int
	err := s.db.GetContext(s.ctx, &id, s.rebind(`SELECT study_id FROM trials WHERE trial_id = ?`), trialID)
	if errors.Is(err, sql.ErrNoRows) {
		return -1, goptuna.ErrInvalidTrialID
	}
	if err != nil {
		return -1, fmt.Errorf("get study of trial %d: %w", trialID, err)
	}
	return id, nil
}

// GetStudyNameFromID returns the study's name, or goptuna.ErrInvalidStudyID.
func (s *Store) GetStudyNameFromID(studyID int) (string, error) {
	var name string
	err := s.db.GetContext(s.ctx, &name, s.rebind(`SELECT study_name FROM studies WHERE study_id = ?`), studyID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", goptuna.ErrInvalidStudyID
	}
	if err != nil {
		return "", fmt.Errorf("get study name %d: %w", studyID, err)
	}
	return name, nil
}

// GetStudyDirection returns the study's direction, or
// goptuna.ErrInvalidStudyID.
func (s *Store) GetStudyDirection(studyID int) (goptuna.StudyDirection, error) {
	return s.direction(s.ctx, studyID)
}

func (s *Store) direction(ctx context.Context, studyID int) (goptuna.StudyDirection, error) {
	var dir string
	err := s.db.GetContext(ctx, &dir, s.rebind(`SELECT direction FROM studies WHERE study_id = ?`), studyID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", goptuna.ErrInvalidStudyID
	}
	if err != nil {
		return "", fmt.Errorf("get study direction %d: %w", studyID, err)
	}
	return goptuna.StudyDirection(dir), nil
}

// GetStudyUserAttrs returns a fresh map of the study's user attributes.
func (s *Store) GetStudyUserAttrs(studyID int) (map[string]string, error) {
	return s.studyAttrs(s.ctx, studyID, attrUser)
}

// GetStudySystemAttrs returns a fresh map of the study's system attributes.
func (s *Store) GetStudySystemAttrs(studyID int) (map[string]string, error) {
	return s.studyAttrs(s.ctx, studyID, attrSystem)
}

func (s *Store) studyAttrs(ctx context.Context, studyID, kind int) (map[string]string, error) {
	if _, err := s.direction(ctx, studyID); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT attr_key, value FROM study_attrs WHERE study_id = ? AND kind = ?`), studyID, kind)
	if err != nil {
		return nil, fmt.Errorf("get study attrs: %w", err)
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("get study attrs: %w", err)
		}
		m[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get study attrs: %w", err)
	}
	return m, nil
}

// GetAllStudySummaries lists every study with its best COMPLETE trial (zero
// when none), attributes and earliest trial start.
func (s *Store) GetAllStudySummaries() ([]goptuna.StudySummary, error) {
	type row struct {
		ID        int           `db:"study_id"`
		Name      string        `db:"study_name"`
		Direction string        `db:"direction"`
		Start     sql.NullInt64 `db:"start"`
	}
	var rows []row
	err := s.db.SelectContext(s.ctx, &rows, `SELECT s.study_id, s.study_name, s.direction,
		(SELECT MIN(t.datetime_start) FROM trials t WHERE t.study_id = s.study_id) AS start
		FROM studies s ORDER BY s.study_id`)
	if err != nil {
		return nil, fmt.Errorf("list studies: %w", err)
	}
	out := make([]goptuna.StudySummary, 0, len(rows))
	for _, r := range rows {
		sum := goptuna.StudySummary{ID: r.ID, Name: r.Name, Direction: goptuna.StudyDirection(r.Direction), DatetimeStart: fromMicro(r.Start)}
		best, err := s.GetBestTrial(r.ID)
		switch {
		case err == nil:
			sum.BestTrial = best
		case err != goptuna.ErrNoCompletedTrials:
			return nil, err
		}
		if sum.UserAttrs, err = s.studyAttrs(s.ctx, r.ID, attrUser); err != nil {
			return nil, err
		}
		if sum.SystemAttrs, err = s.studyAttrs(s.ctx, r.ID, attrSystem); err != nil {
			return nil, err
		}
		out = append(out, sum)
	}
	return out, nil
}

// SpecAttr is the study system attribute holding the resolved sweep spec
// (JSON), so commands on other machines need only the DSN and the name.
const SpecAttr = "lorasweep:spec"

// ErrNoSpec is returned by StudySpec when the study has no stored spec.
var ErrNoSpec = errors.New("study has no stored spec")

// SetStudySpec stores the study's resolved spec (JSON), replacing any
// earlier one.
func (s *Store) SetStudySpec(ctx context.Context, studyID int, spec []byte) error {
	return s.setStudyAttr(ctx, studyID, attrSystem, SpecAttr, string(spec))
}

// StudySpec returns the study's stored spec (JSON), ErrNoSpec when none was
// stored, or goptuna.ErrInvalidStudyID.
func (s *Store) StudySpec(ctx context.Context, studyID int) ([]byte, error) {
	m, err := s.studyAttrs(ctx, studyID, attrSystem)
	if err != nil {
		return nil, err
	}
	v, ok := m[SpecAttr]
	if !ok {
		return nil, ErrNoSpec
	}
	return []byte(v), nil
}
