-- The objective version an epoch was scored under. A sweep's objective is
-- versioned when it is changed on resume (--allow-objective-change): epochs
-- re-scored from their stored samples move to the new version, the rest keep
-- the version that gave their value. Sweeps older than this column scored
-- every epoch under version 1.
ALTER TABLE epochs ADD COLUMN objective_version BIGINT NOT NULL DEFAULT 1;
