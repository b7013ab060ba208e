// Package storage is the single source of truth of a sweep: a
// goptuna.Storage over sqlx for SQLite (modernc.org/sqlite, pure Go) and
// PostgreSQL (lib/pq), plus the project's own records (runs, epochs, samples,
// step metrics, ratings), heartbeats, a stale-trial reaper and an atomic
// budget claim.
//
// It knows SQL, goptuna's storage semantics and the record types of package
// sweep; it must not know how trials are proposed, run or scored.
//
// Decisions written down once:
//
//   - Trial numbers come from a per-study counter bumped inside the inserting
//     transaction, backed by UNIQUE(study_id, number); transactions are retried
//     on serialization failure, deadlock, unique violation and SQLITE_BUSY.
//   - State changes are compare-and-set: only a RUNNING or WAITING trial moves,
//     never to its own state. Finished trials are immutable: params, values,
//     intermediate values and attrs of a finished trial are refused with
//     goptuna.ErrTrialCannotBeUpdated (returned unwrapped, as goptuna compares
//     with ==).
//   - NaN/±Inf trial values are never stored as numbers: the value stays NULL
//     and the trial ends FAIL with system attr lorasweep:fail_reason=nan when
//     told COMPLETE (or PRUNED). Such a trial is never the best. Non-finite
//     intermediate values are stored as NULL and read back as NaN.
//   - An intermediate value written twice for one step keeps the latest value.
//     A param written twice must carry the same value and distribution.
//   - Budget: a trial counts against the budget once it has been started
//     (RUNNING or finished). A trial reaped as interrupted and re-enqueued does
//     not count; its retry counts once it is claimed. WAITING trials never count.
//   - Finished trials are cached per Store (they are immutable); GetAllTrials
//     re-reads only trials at or after the first unfinished trial number.
//   - Times are stored as Unix microseconds (BIGINT) so both databases agree.
//   - SQLite opens with WAL, synchronous=FULL, busy_timeout and BEGIN IMMEDIATE
//     for every write transaction; several processes may share one file.
//   - A lost connection (server restarting, network drop) is retried with
//     backoff for up to two minutes, by reads and writes alike. A write
//     whose COMMIT answer was lost may be re-run: upserts and heartbeats are
//     idempotent; a compare-and-set state change re-run finds itself done and
//     reports goptuna.ErrTrialCannotBeUpdated ("finished elsewhere"); a claim
//     carries a per-Store stamp recorded with the claiming worker, so a
//     re-run returns the trial the lost commit claimed instead of a second
//     one (a claim without a worker ID cannot tell: the extra RUNNING trial
//     is then freed by the stale reaper and re-enqueued, never lost). An
//     enqueue re-run after a lost commit can add a duplicate WAITING trial.
//   - A DSN's password never appears in an error: see Redact.
package storage
