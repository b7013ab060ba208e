-- lorasweep schema v1. {{PK}} and {{FLOAT}} are replaced per dialect
-- (SQLite: INTEGER PRIMARY KEY AUTOINCREMENT / REAL; PostgreSQL: BIGSERIAL
-- PRIMARY KEY / DOUBLE PRECISION). Times are Unix microseconds.

CREATE TABLE studies (
    study_id    {{PK}},
    study_name  TEXT NOT NULL UNIQUE,
    direction   TEXT NOT NULL DEFAULT 'minimize',
    next_number BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL
);

-- kind: 0 user attr, 1 system attr.
CREATE TABLE study_attrs (
    study_id BIGINT NOT NULL REFERENCES studies(study_id) ON DELETE CASCADE,
    kind     SMALLINT NOT NULL,
    attr_key TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (study_id, kind, attr_key)
);

-- state: goptuna.TrialState (0 RUNNING, 1 COMPLETE, 2 PRUNED, 3 FAIL, 4 WAITING).
-- value is NULL until set and whenever it was not finite (value_nonfinite=1).
-- counted: 1 while the trial counts against the budget once started.
CREATE TABLE trials (
    trial_id          {{PK}},
    study_id          BIGINT NOT NULL REFERENCES studies(study_id) ON DELETE CASCADE,
    number            BIGINT NOT NULL,
    state             SMALLINT NOT NULL,
    value             {{FLOAT}},
    value_nonfinite   SMALLINT NOT NULL DEFAULT 0,
    datetime_start    BIGINT NOT NULL,
    datetime_complete BIGINT,
    heartbeat         BIGINT,
    counted           SMALLINT NOT NULL DEFAULT 1,
    UNIQUE (study_id, number)
);
CREATE INDEX trials_study_state ON trials (study_id, state);

CREATE TABLE trial_params (
    trial_id     BIGINT NOT NULL REFERENCES trials(trial_id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    value        {{FLOAT}} NOT NULL,
    distribution TEXT NOT NULL,
    PRIMARY KEY (trial_id, name)
);

CREATE TABLE trial_values (
    trial_id BIGINT NOT NULL REFERENCES trials(trial_id) ON DELETE CASCADE,
    step     BIGINT NOT NULL,
    value    {{FLOAT}},
    PRIMARY KEY (trial_id, step)
);

CREATE TABLE trial_attrs (
    trial_id BIGINT NOT NULL REFERENCES trials(trial_id) ON DELETE CASCADE,
    kind     SMALLINT NOT NULL,
    attr_key TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (trial_id, kind, attr_key)
);

CREATE TABLE runs (
    trial_id   BIGINT PRIMARY KEY REFERENCES trials(trial_id) ON DELETE CASCADE,
    worker_id  TEXT NOT NULL DEFAULT '',
    host       TEXT NOT NULL DEFAULT '',
    gpus       TEXT NOT NULL DEFAULT '[]',
    pid        BIGINT NOT NULL DEFAULT 0,
    pgid       BIGINT NOT NULL DEFAULT 0,
    trial_dir  TEXT NOT NULL DEFAULT '',
    log_path   TEXT NOT NULL DEFAULT '',
    exit_code  BIGINT,
    reason     TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    log_tail   TEXT NOT NULL DEFAULT '',
    started    BIGINT NOT NULL,
    ended      BIGINT,
    heartbeat  BIGINT NOT NULL,
    model_path TEXT NOT NULL DEFAULT '',
    best_epoch BIGINT,
    checkpoint TEXT NOT NULL DEFAULT ''
);

CREATE TABLE epochs (
    trial_id   BIGINT NOT NULL REFERENCES trials(trial_id) ON DELETE CASCADE,
    epoch      BIGINT NOT NULL,
    fraction   {{FLOAT}} NOT NULL,
    value      {{FLOAT}},
    components TEXT NOT NULL DEFAULT '',
    checkpoint TEXT NOT NULL DEFAULT '',
    unscorable SMALLINT NOT NULL DEFAULT 0,
    reason     TEXT NOT NULL DEFAULT '',
    deleted    SMALLINT NOT NULL DEFAULT 0,
    PRIMARY KEY (trial_id, epoch)
);

CREATE TABLE samples (
    trial_id     BIGINT NOT NULL REFERENCES trials(trial_id) ON DELETE CASCADE,
    epoch        BIGINT NOT NULL,
    path         TEXT NOT NULL,
    prompt       TEXT NOT NULL DEFAULT '',
    prompt_index BIGINT NOT NULL DEFAULT 0,
    seed         BIGINT NOT NULL DEFAULT 0,
    scores       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (trial_id, path)
);

CREATE TABLE metrics (
    trial_id BIGINT NOT NULL REFERENCES trials(trial_id) ON DELETE CASCADE,
    step     BIGINT NOT NULL,
    loss     {{FLOAT}},
    lr       {{FLOAT}},
    PRIMARY KEY (trial_id, step)
);

CREATE TABLE ratings (
    rating_id {{PK}},
    study_id  BIGINT NOT NULL REFERENCES studies(study_id) ON DELETE CASCADE,
    trial_id  BIGINT NOT NULL REFERENCES trials(trial_id) ON DELETE CASCADE,
    stars     BIGINT NOT NULL DEFAULT 0,
    other     BIGINT,
    rater     TEXT NOT NULL DEFAULT '',
    created   BIGINT NOT NULL
);
CREATE INDEX ratings_study ON ratings (study_id);
