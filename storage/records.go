package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/c-bata/goptuna"
	"github.com/jmoiron/sqlx"

	"github.com/lorasweep/lorasweep/sweep"
)

type runRow struct {
	TrialID    int           `db:"trial_id"`
	WorkerID   string        `db:"worker_id"`
	Host       string        `db:"host"`
	GPUs       string        `db:"gpus"`
	PID        int           `db:"pid"`
	PGID       int           `db:"pgid"`
	TrialDir   string        `db:"trial_dir"`
	LogPath    string        `db:"log_path"`
	ExitCode   sql.NullInt64 `db:"exit_code"`
	Reason     string        `db:"reason"`
	Detail     string        `db:"detail"`
	LogTail    string        `db:"log_tail"`
	Started    int64         `db:"started"`
	Ended      sql.NullInt64 `db:"ended"`
	Heartbeat  int64         `db:"heartbeat"`
	ModelPath  string        `db:"model_path"`
	BestEpoch  sql.NullInt64 `db:"best_epoch"`
	Checkpoint string        `db:"checkpoint"`
	Warnings   string        `db:"warnings"`
}

const runCols = `trial_id, worker_id, host, gpus, pid, pgid, trial_dir, log_path, exit_code, reason, detail,
	log_tail, started, ended, heartbeat, model_path, best_epoch, checkpoint, warnings`

func toRunRow(r sweep.RunRecord) (runRow, error) {
	gpus := r.GPUs
	if gpus == nil {
		gpus = []string{}
	}
	gj, err := json.Marshal(gpus)
	if err != nil {
		return runRow{}, err
	}
	warns := r.Warnings
	if warns == nil {
		warns = []string{}
	}
	wj, err := json.Marshal(warns)
	if err != nil {
		return runRow{}, err
	}
	row := runRow{
		TrialID: r.TrialID, WorkerID: r.WorkerID, Host: r.Host, GPUs: string(gj), PID: r.PID, PGID: r.PGID,
		TrialDir: r.TrialDir, LogPath: r.LogPath, Reason: r.Reason, Detail: r.Detail, LogTail: r.LogTail,
		ModelPath: r.ModelPath, Checkpoint: r.Checkpoint, Warnings: string(wj),
	}
	now := time.Now()
	if r.Started.IsZero() {
		r.Started = now
	}
	if r.Heartbeat.IsZero() {
		r.Heartbeat = now
	}
	row.Started, row.Heartbeat = micro(r.Started), micro(r.Heartbeat)
	if r.ExitCode != nil {
		row.ExitCode = sql.NullInt64{Int64: int64(*r.ExitCode), Valid: true}
	}
	if r.Ended != nil {
		row.Ended = sql.NullInt64{Int64: micro(*r.Ended), Valid: true}
	}
	if r.BestEpoch != nil {
		row.BestEpoch = sql.NullInt64{Int64: int64(*r.BestEpoch), Valid: true}
	}
	return row, nil
}

func (r runRow) record() sweep.RunRecord {
	out := sweep.RunRecord{
		TrialID: r.TrialID, WorkerID: r.WorkerID, Host: r.Host, PID: r.PID, PGID: r.PGID, TrialDir: r.TrialDir,
		LogPath: r.LogPath, Reason: r.Reason, Detail: r.Detail, LogTail: r.LogTail,
		Started: time.UnixMicro(r.Started), Heartbeat: time.UnixMicro(r.Heartbeat),
		ModelPath: r.ModelPath, Checkpoint: r.Checkpoint,
	}
	_ = json.Unmarshal([]byte(r.GPUs), &out.GPUs) // written by toRunRow: always valid
	if r.Warnings != "[]" {
		_ = json.Unmarshal([]byte(r.Warnings), &out.Warnings) // likewise
	}
	if r.ExitCode.Valid {
		c := int(r.ExitCode.Int64)
		out.ExitCode = &c
	}
	if r.Ended.Valid {
		t := time.UnixMicro(r.Ended.Int64)
		out.Ended = &t
	}
	if r.BestEpoch.Valid {
		e := int(r.BestEpoch.Int64)
		out.BestEpoch = &e
	}
	return out
}

// StartRun records (or replaces) the run of a RUNNING trial: where and how
// its trainer runs. A finished trial gives goptuna.ErrTrialCannotBeUpdated.
func (s *Store) StartRun(ctx context.Context, r sweep.RunRecord) error {
	row, err := toRunRow(r)
	if err != nil {
		return fmt.Errorf("start run of trial %d: %w", r.TrialID, err)
	}
	return s.trialWrite(ctx, "start run", r.TrialID, func(tx *sqlx.Tx) error {
		_, err := tx.NamedExecContext(ctx, `INSERT INTO runs (`+runCols+`) VALUES (:trial_id, :worker_id, :host, :gpus, :pid,
			:pgid, :trial_dir, :log_path, :exit_code, :reason, :detail, :log_tail, :started, :ended, :heartbeat, :model_path,
			:best_epoch, :checkpoint, :warnings)
			ON CONFLICT (trial_id) DO UPDATE SET worker_id = excluded.worker_id, host = excluded.host, gpus = excluded.gpus,
			pid = excluded.pid, pgid = excluded.pgid, trial_dir = excluded.trial_dir, log_path = excluded.log_path,
			exit_code = excluded.exit_code, reason = excluded.reason, detail = excluded.detail, log_tail = excluded.log_tail,
			started = excluded.started, ended = excluded.ended, heartbeat = excluded.heartbeat,
			model_path = excluded.model_path, best_epoch = excluded.best_epoch, checkpoint = excluded.checkpoint,
			warnings = excluded.warnings`, row)
		return err
	})
}

// FinishRun records how a run ended (exit code, reason, detail, log tail,
// end time, model, best epoch and checkpoint) and the trainer's pid and
// process group, known only once it started (0 keeps what is stored). It
// may be written after the
// trial's state, so it does not require the trial to be unfinished; the run
// must have been started.
func (s *Store) FinishRun(ctx context.Context, r sweep.RunRecord) error {
	if r.Ended == nil {
		now := time.Now()
		r.Ended = &now
	}
	row, err := toRunRow(r)
	if err != nil {
		return fmt.Errorf("finish run of trial %d: %w", r.TrialID, err)
	}
	res, err := s.db.NamedExecContext(ctx, s.db.Rebind(`UPDATE runs SET exit_code = :exit_code,
		reason = CASE WHEN :reason = '' THEN reason ELSE :reason END, detail = :detail, log_tail = :log_tail,
		ended = :ended, model_path = :model_path, best_epoch = :best_epoch, checkpoint = :checkpoint,
		warnings = :warnings, pid = CASE WHEN :pid = 0 THEN pid ELSE :pid END, pgid = CASE WHEN :pgid = 0 THEN pgid ELSE :pgid END
		WHERE trial_id = :trial_id`), row)
	if err != nil {
		return fmt.Errorf("finish run of trial %d: %w", r.TrialID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return goptuna.ErrInvalidTrialID
	}
	return nil
}

// ErrNoRun is returned by GetRun for a trial with no run recorded.
var ErrNoRun = errors.New("trial has no run")

// GetRun returns the run of a trial, or ErrNoRun.
func (s *Store) GetRun(ctx context.Context, trialID int) (sweep.RunRecord, error) {
	var row runRow
	err := s.db.GetContext(ctx, &row, s.rebind(`SELECT `+runCols+` FROM runs WHERE trial_id = ?`), trialID)
	if errors.Is(err, sql.ErrNoRows) {
		return sweep.RunRecord{}, ErrNoRun
	}
	if err != nil {
		return sweep.RunRecord{}, fmt.Errorf("get run of trial %d: %w", trialID, err)
	}
	return row.record(), nil
}

// Runs returns every run of the study's trials in trial-number order.
func (s *Store) Runs(ctx context.Context, studyID int) ([]sweep.RunRecord, error) {
	var rows []runRow
	err := s.db.SelectContext(ctx, &rows, s.rebind(`SELECT r.trial_id, r.worker_id, r.host, r.gpus, r.pid, r.pgid,
		r.trial_dir, r.log_path, r.exit_code, r.reason, r.detail, r.log_tail, r.started, r.ended, r.heartbeat,
		r.model_path, r.best_epoch, r.checkpoint
		FROM runs r JOIN trials t ON t.trial_id = r.trial_id WHERE t.study_id = ? ORDER BY t.number`), studyID)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out := make([]sweep.RunRecord, len(rows))
	for i, r := range rows {
		out[i] = r.record()
	}
	return out, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// RecordEpoch upserts a trial's score at one saved epoch. Epoch records are
// the project's own and stay writable after the trial ends (the retention
// policy marks checkpoints deleted later).
func (s *Store) RecordEpoch(ctx context.Context, e sweep.EpochRecord) error {
	var v sql.NullFloat64
	if e.Value != nil {
		v = finiteOrNull(*e.Value)
	}
	_, err := s.db.ExecContext(ctx, s.rebind(`INSERT INTO epochs
		(trial_id, epoch, step, fraction, value, components, checkpoint, unscorable, reason, deleted, images, expected, partial,
		objective_version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (trial_id, epoch, step) DO UPDATE SET fraction = excluded.fraction, value = excluded.value,
		components = excluded.components, checkpoint = excluded.checkpoint, unscorable = excluded.unscorable,
		reason = excluded.reason, deleted = excluded.deleted, images = excluded.images, expected = excluded.expected,
		partial = excluded.partial, objective_version = excluded.objective_version`),
		e.TrialID, e.Epoch, e.Step, e.Fraction, v, e.Components, e.Checkpoint, b2i(e.Unscorable), e.Reason, b2i(e.Deleted),
		e.Images, e.Expected, b2i(e.Partial), max(1, e.ObjectiveVersion))
	if err != nil {
		return fmt.Errorf("record %s of trial %d: %w", e.Candidate(), e.TrialID, err)
	}
	return nil
}

// Epochs returns a trial's candidate records: epochs in epoch order, then
// step candidates in step order.
func (s *Store) Epochs(ctx context.Context, trialID int) ([]sweep.EpochRecord, error) {
	var rows []struct {
		TrialID    int             `db:"trial_id"`
		Epoch      int             `db:"epoch"`
		Step       int             `db:"step"`
		Fraction   float64         `db:"fraction"`
		Value      sql.NullFloat64 `db:"value"`
		Components string          `db:"components"`
		Checkpoint string          `db:"checkpoint"`
		Unscorable int             `db:"unscorable"`
		Reason     string          `db:"reason"`
		Deleted    int             `db:"deleted"`
		Images     int             `db:"images"`
		Expected   int             `db:"expected"`
		Partial    int             `db:"partial"`
		Version    int             `db:"objective_version"`
	}
	if err := s.db.SelectContext(ctx, &rows, s.rebind(`SELECT trial_id, epoch, step, fraction, value, components, checkpoint,
		unscorable, reason, deleted, images, expected, partial, objective_version FROM epochs WHERE trial_id = ?
		ORDER BY step > 0, epoch, step`), trialID); err != nil {
		return nil, fmt.Errorf("list epochs of trial %d: %w", trialID, err)
	}
	out := make([]sweep.EpochRecord, len(rows))
	for i, r := range rows {
		out[i] = sweep.EpochRecord{TrialID: r.TrialID, Epoch: r.Epoch, Step: r.Step, Fraction: r.Fraction, Components: r.Components,
			Checkpoint: r.Checkpoint, Unscorable: r.Unscorable == 1, Reason: r.Reason, Deleted: r.Deleted == 1,
			Images: r.Images, Expected: r.Expected, Partial: r.Partial == 1, ObjectiveVersion: r.Version}
		if r.Value.Valid {
			v := r.Value.Float64
			out[i].Value = &v
		}
	}
	return out, nil
}

// RecordSamples upserts sample images (keyed by trial and path) in one
// transaction.
func (s *Store) RecordSamples(ctx context.Context, samples []sweep.SampleRecord) error {
	if len(samples) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		q := s.rebind(`INSERT INTO samples (trial_id, epoch, step, path, prompt, prompt_index, seed, scores) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (trial_id, path) DO UPDATE SET epoch = excluded.epoch, step = excluded.step, prompt = excluded.prompt,
			prompt_index = excluded.prompt_index, seed = excluded.seed, scores = excluded.scores`)
		for _, x := range samples {
			if _, err := tx.ExecContext(ctx, q, x.TrialID, x.Epoch, x.Step, x.Path, x.Prompt, x.PromptIndex, x.Seed, x.Scores); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record samples: %w", err)
	}
	return nil
}

// Samples returns a trial's samples ordered by epoch, prompt index, seed.
func (s *Store) Samples(ctx context.Context, trialID int) ([]sweep.SampleRecord, error) {
	var rows []struct {
		TrialID     int    `db:"trial_id"`
		Epoch       int    `db:"epoch"`
		Step        int    `db:"step"`
		Path        string `db:"path"`
		Prompt      string `db:"prompt"`
		PromptIndex int    `db:"prompt_index"`
		Seed        int64  `db:"seed"`
		Scores      string `db:"scores"`
	}
	if err := s.db.SelectContext(ctx, &rows, s.rebind(`SELECT trial_id, epoch, step, path, prompt, prompt_index, seed, scores
		FROM samples WHERE trial_id = ? ORDER BY step > 0, epoch, step, prompt_index, seed, path`), trialID); err != nil {
		return nil, fmt.Errorf("list samples of trial %d: %w", trialID, err)
	}
	out := make([]sweep.SampleRecord, len(rows))
	for i, r := range rows {
		out[i] = sweep.SampleRecord(r)
	}
	return out, nil
}

// RecordMetrics upserts a trial's step metrics in one transaction.
// Non-finite losses (a diverged run) are stored as NULL and read back as NaN.
func (s *Store) RecordMetrics(ctx context.Context, trialID int, pts []sweep.MetricPoint) error {
	if len(pts) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		q := s.rebind(`INSERT INTO metrics (trial_id, step, loss, lr) VALUES (?, ?, ?, ?)
			ON CONFLICT (trial_id, step) DO UPDATE SET loss = excluded.loss, lr = excluded.lr`)
		for _, p := range pts {
			if _, err := tx.ExecContext(ctx, q, trialID, p.Step, finiteOrNull(p.Loss), finiteOrNull(p.LR)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record metrics of trial %d: %w", trialID, err)
	}
	return nil
}

// Metrics returns a trial's step metrics in step order.
func (s *Store) Metrics(ctx context.Context, trialID int) ([]sweep.MetricPoint, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT step, loss, lr FROM metrics WHERE trial_id = ? ORDER BY step`), trialID)
	if err != nil {
		return nil, fmt.Errorf("list metrics of trial %d: %w", trialID, err)
	}
	defer rows.Close()
	var out []sweep.MetricPoint
	for rows.Next() {
		var p sweep.MetricPoint
		var loss, lr sql.NullFloat64
		if err := rows.Scan(&p.Step, &loss, &lr); err != nil {
			return nil, fmt.Errorf("list metrics of trial %d: %w", trialID, err)
		}
		p.Loss, p.LR = nullToNaN(loss), nullToNaN(lr)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list metrics of trial %d: %w", trialID, err)
	}
	return out, nil
}

func nullToNaN(v sql.NullFloat64) float64 {
	if !v.Valid {
		return nanValue()
	}
	return v.Float64
}

// AddRating stores a human rating of a trial and returns its ID. Ratings
// never touch the trial's stored value.
func (s *Store) AddRating(ctx context.Context, r sweep.Rating) (int64, error) {
	if r.Created.IsZero() {
		r.Created = time.Now()
	}
	var other sql.NullInt64
	if r.Other != nil {
		other = sql.NullInt64{Int64: int64(*r.Other), Valid: true}
	}
	var id int64
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		var studyID int
		err := tx.GetContext(ctx, &studyID, s.rebind(`SELECT study_id FROM trials WHERE trial_id = ?`), r.TrialID)
		if errors.Is(err, sql.ErrNoRows) {
			return goptuna.ErrInvalidTrialID
		}
		if err != nil {
			return err
		}
		return tx.GetContext(ctx, &id, s.rebind(`INSERT INTO ratings (study_id, trial_id, stars, other, rater, created)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING rating_id`), studyID, r.TrialID, r.Stars, other, r.Rater, micro(r.Created))
	})
	if err == goptuna.ErrInvalidTrialID {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("add rating of trial %d: %w", r.TrialID, err)
	}
	return id, nil
}

// Ratings returns the study's ratings in the order they were made.
func (s *Store) Ratings(ctx context.Context, studyID int) ([]sweep.Rating, error) {
	var rows []struct {
		ID      int64         `db:"rating_id"`
		TrialID int           `db:"trial_id"`
		Stars   int           `db:"stars"`
		Other   sql.NullInt64 `db:"other"`
		Rater   string        `db:"rater"`
		Created int64         `db:"created"`
	}
	if err := s.db.SelectContext(ctx, &rows, s.rebind(`SELECT rating_id, trial_id, stars, other, rater, created
		FROM ratings WHERE study_id = ? ORDER BY rating_id`), studyID); err != nil {
		return nil, fmt.Errorf("list ratings: %w", err)
	}
	out := make([]sweep.Rating, len(rows))
	for i, r := range rows {
		out[i] = sweep.Rating{ID: r.ID, TrialID: r.TrialID, Stars: r.Stars, Rater: r.Rater, Created: time.UnixMicro(r.Created)}
		if r.Other.Valid {
			o := int(r.Other.Int64)
			out[i].Other = &o
		}
	}
	return out, nil
}
