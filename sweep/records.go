package sweep

import (
	"context"
	"fmt"
	"time"

	"github.com/c-bata/goptuna"
)

// RunRecord is one attempt to train a trial: where and how the trainer ran.
type RunRecord struct {
	TrialID    int
	WorkerID   string
	Host       string
	GPUs       []string
	PID        int
	PGID       int
	TrialDir   string
	LogPath    string
	ExitCode   *int
	Reason     string // failure reason (runner.Reason values, or unscorable)
	Detail     string
	LogTail    string
	Started    time.Time
	Ended      *time.Time
	Heartbeat  time.Time
	ModelPath  string
	BestEpoch  *int
	Checkpoint string // best candidate's checkpoint
	// Warnings are what the run said a user should know though it did not
	// fail it: the trainer's settings differing from what was asked (ss_*
	// metadata), a crash at teardown after the model was saved, and such.
	Warnings []string
}

// EpochRecord is a trial's score at one candidate: a saved-and-sampled
// epoch (Step 0), or a saved-and-sampled step of a trial that samples by
// steps (Epoch 0, Step > 0).
type EpochRecord struct {
	TrialID    int
	Epoch      int
	Step       int
	Fraction   float64 // of the trial's schedule completed, 0..1
	Value      *float64
	Components string // JSON of objective.Result components
	Checkpoint string
	Unscorable bool
	Reason     string
	Deleted    bool // checkpoint removed by the retention policy
	// Images of Expected sample images existed and decoded when the
	// candidate was scored. Partial: it was scored on fewer than Expected
	// (the trainer stopped while sampling, a file is missing or corrupt);
	// such a value never ranks above a complete candidate.
	Images   int
	Expected int
	Partial  bool
	// ObjectiveVersion is the sweep's objective version the value was
	// scored under (1 until the objective is changed on resume).
	ObjectiveVersion int
}

// Candidate labels the record as users see it: "epoch 3" or "step 1600".
func (e EpochRecord) Candidate() string { return CandidateLabel(e.Epoch, e.Step) }

// CandidateLabel is "epoch N", or "step N" for a step candidate.
func CandidateLabel(epoch, step int) string {
	if step > 0 {
		return fmt.Sprintf("step %d", step)
	}
	return fmt.Sprintf("epoch %d", epoch)
}

// Completeness is "" for a complete candidate and "partial k/n" otherwise.
func (e EpochRecord) Completeness() string {
	if !e.Partial {
		return ""
	}
	return fmt.Sprintf("partial %d/%d", e.Images, e.Expected)
}

// RescoredTrial is a finished trial scored again under a changed objective
// from its stored samples and components.
type RescoredTrial struct {
	TrialID int
	Version int // the objective version of the new scores
	Value   float64
	// BestEpoch (or BestStep, for a step candidate) and Checkpoint are the
	// best candidate under the new objective; Partial is its "k/n" when it
	// was scored on part of its images.
	BestEpoch  int
	BestStep   int
	Checkpoint string
	Partial    string
	// Intermediate are the new per-epoch values by step (fraction × 1000),
	// as the pruner reads them.
	Intermediate map[int]float64
	// Epochs replace the stored epoch scores (value, components, unscorable,
	// reason, objective version); Samples their per-image scores.
	Epochs  []EpochRecord
	Samples []SampleRecord
}

// SampleRecord is one sample image of a trial.
type SampleRecord struct {
	TrialID     int
	Epoch       int
	Step        int // the step candidate it belongs to; 0 for epoch samples
	Path        string
	Prompt      string
	PromptIndex int
	Seed        int64
	Scores      string // JSON: component name → score
}

// MetricPoint is one training step's loss and learning rate.
type MetricPoint struct {
	Step int
	Loss float64
	LR   float64
}

// Rating is a human judgement of a trial: Stars (1..5) or a pairwise win
// over Other.
type Rating struct {
	ID      int64
	TrialID int
	Stars   int
	Other   *int // trial ID that lost a pairwise pick
	Rater   string
	Created time.Time
}

// ClaimResult says what Claim granted.
type ClaimResult struct {
	// TrialID is the trial now RUNNING for the caller (a popped WAITING trial
	// or a new one); zero with Granted false when the budget is spent.
	TrialID int
	Number  int
	Granted bool
	// Enqueued is true when the trial was a WAITING (enqueued or retry) one;
	// its fixed params are in its system attrs.
	Enqueued bool
}

// ReapedTrial is a RUNNING trial whose heartbeat went stale and which the
// reaper failed as interrupted; RetryID is its re-enqueued copy, if any.
type ReapedTrial struct {
	TrialID int
	Number  int
	RetryID int
}

// Store is what the controller needs of storage: goptuna's storage plus the
// project's own records. storage.Store implements it.
type Store interface {
	goptuna.Storage

	// Claim atomically starts a trial of the study while the number of
	// budget-counted trials is below budget (budget <= 0: unlimited). A
	// WAITING trial is claimed first (compare-and-set WAITING→RUNNING).
	// Trials that ended FAIL(interrupted) and were re-enqueued do not count;
	// their retry does.
	Claim(ctx context.Context, studyID, budget int) (ClaimResult, error)
	// ClaimAs is Claim that records the claiming worker and host with the
	// trial in the same transaction, so a worker killed before its trainer
	// starts leaves a trial its host recognises as orphaned.
	ClaimAs(ctx context.Context, studyID, budget int, workerID, host string) (ClaimResult, error)
	// CountTrials reports how many trials of the study count against the
	// budget, and how many are finished.
	CountTrials(ctx context.Context, studyID int) (counted, finished int, err error)

	// CheckWritable makes a write to the study that changes nothing, so a
	// read-only or full storage is found before the first trial (a full
	// disk gives an error that wraps ErrStorageFull).
	CheckWritable(ctx context.Context, studyID int) error

	StartRun(ctx context.Context, r RunRecord) error
	Heartbeat(ctx context.Context, trialID int) error
	FinishRun(ctx context.Context, r RunRecord) error
	GetRun(ctx context.Context, trialID int) (RunRecord, error)
	// ReapStale fails RUNNING trials whose heartbeat is older than staleAfter
	// as interrupted and, when retry is true, enqueues a WAITING copy with
	// the same params (system attr retry_of).
	ReapStale(ctx context.Context, studyID int, staleAfter time.Duration, retry bool) ([]ReapedTrial, error)

	// FailInterrupted marks a RUNNING trial FAIL with reason interrupted (its
	// worker stopped it: abort, shutdown) and, when retry is true, enqueues a
	// WAITING copy with the same params (system attr lorasweep:retry_of), as
	// ReapStale does for trials of dead workers. It returns the copy's ID
	// (0 when none was made).
	FailInterrupted(ctx context.Context, trialID int, retry bool) (retryID int, err error)

	// ReapStaleLimit is ReapStale with the sweep's retry policy: a reaped
	// trial is re-enqueued while its chain has spent fewer than maxRetries
	// retries (negative: always, spending none; zero: never).
	ReapStaleLimit(ctx context.Context, studyID int, staleAfter time.Duration, maxRetries int) ([]ReapedTrial, error)
	// ReapStaleExcept is ReapStaleLimit sparing the trials of workerID (the
	// caller itself: its own trials are alive however late a heartbeat).
	ReapStaleExcept(ctx context.Context, studyID int, staleAfter time.Duration, maxRetries int, workerID string) ([]ReapedTrial, error)
	// FailInterruptedLimit is FailInterrupted with ReapStaleLimit's retry
	// policy. A trial that is not RUNNING gives
	// goptuna.ErrTrialCannotBeUpdated.
	FailInterruptedLimit(ctx context.Context, trialID, maxRetries int) (retryID int, err error)
	// Runs returns every run record of the study's trials in trial-number
	// order (status, reconciliation of dead local workers, retention).
	Runs(ctx context.Context, studyID int) ([]RunRecord, error)
	// SetStudySpec stores the study's resolved spec (JSON); StudySpec reads
	// it back (an error when none was stored).
	SetStudySpec(ctx context.Context, studyID int, spec []byte) error
	StudySpec(ctx context.Context, studyID int) ([]byte, error)

	RecordEpoch(ctx context.Context, e EpochRecord) error
	Epochs(ctx context.Context, trialID int) ([]EpochRecord, error)
	RecordSamples(ctx context.Context, s []SampleRecord) error
	Samples(ctx context.Context, trialID int) ([]SampleRecord, error)
	RecordMetrics(ctx context.Context, trialID int, pts []MetricPoint) error
	Metrics(ctx context.Context, trialID int) ([]MetricPoint, error)
	AddRating(ctx context.Context, r Rating) (int64, error)

	// ChangeObjective starts a new objective version of the study in one
	// transaction: it sets the study's direction and system attrs (the
	// objective history) and marks each trial in supersede (trial ID → the
	// direction its value was scored in) as scored under an older
	// objective (AttrSuperseded), so no view ranks it with the new values.
	ChangeObjective(ctx context.Context, studyID int, dir goptuna.StudyDirection, attrs map[string]string, supersede map[int]string) error
	// RescoreTrial replaces a finished trial's scores with ones computed
	// under another objective version, in one transaction, and clears its
	// superseded mark. The trial must be COMPLETE or PRUNED.
	RescoreTrial(ctx context.Context, r RescoredTrial) error
	Ratings(ctx context.Context, studyID int) ([]Rating, error)

	Close() error
}
