-- Routescope store, schema version 9: results derived from a run or an experiment, kept so that reopening them
-- after a restart reads one row instead of recomputing (the workbench's analysis of a run, an experiment's report,
-- a run's aggregates as one blob). The source tables stay the truth: a row is used only while its stamp (the state
-- of the run or experiment it was computed from) and its format (the code's version of the value) still match,
-- and is otherwise recomputed and replaced. Deleting the run or experiment deletes its rows.
CREATE TABLE run_derived (
  run_id     INTEGER NOT NULL REFERENCES capture_run(id) ON DELETE CASCADE,
  key        TEXT NOT NULL,                            -- what was computed, e.g. the analysis settings and pivot
  stamp      TEXT NOT NULL,                            -- the run's state it was computed from
  format     INTEGER NOT NULL,                         -- the code's version of the value's layout
  value      BLOB NOT NULL,                            -- src/store/value-codec.ts
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (run_id, key)
);
CREATE TABLE experiment_derived (
  experiment_id INTEGER NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,
  key           TEXT NOT NULL,
  stamp         TEXT NOT NULL,
  format        INTEGER NOT NULL,
  value         BLOB NOT NULL,
  created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (experiment_id, key)
);
