-- Candidates: an epoch's score now records how many sample images it was
-- scored on out of how many the prompts file asks for (partial k/n), and a
-- candidate may be a saved-and-sampled step instead of an epoch (step > 0,
-- epoch 0). The primary key gains the step, so the table is rebuilt.
CREATE TABLE epochs_v2 (
    trial_id   BIGINT NOT NULL REFERENCES trials(trial_id) ON DELETE CASCADE,
    epoch      BIGINT NOT NULL,
    step       BIGINT NOT NULL DEFAULT 0,
    fraction   {{FLOAT}} NOT NULL,
    value      {{FLOAT}},
    components TEXT NOT NULL DEFAULT '',
    checkpoint TEXT NOT NULL DEFAULT '',
    unscorable SMALLINT NOT NULL DEFAULT 0,
    reason     TEXT NOT NULL DEFAULT '',
    deleted    SMALLINT NOT NULL DEFAULT 0,
    images     BIGINT NOT NULL DEFAULT 0,
    expected   BIGINT NOT NULL DEFAULT 0,
    partial    SMALLINT NOT NULL DEFAULT 0,
    PRIMARY KEY (trial_id, epoch, step)
);
INSERT INTO epochs_v2 (trial_id, epoch, step, fraction, value, components, checkpoint, unscorable, reason, deleted)
    SELECT trial_id, epoch, 0, fraction, value, components, checkpoint, unscorable, reason, deleted FROM epochs;
DROP TABLE epochs;
ALTER TABLE epochs_v2 RENAME TO epochs;

-- A step-based sample belongs to the step candidate it was drawn at.
ALTER TABLE samples ADD COLUMN step BIGINT NOT NULL DEFAULT 0;

-- What the run warned about (metadata mismatches, a scheduler the trainer
-- switched, a crash at teardown after the model was saved …), as a JSON list.
ALTER TABLE runs ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';
