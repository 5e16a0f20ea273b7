-- Routescope store, schema version 3: guided steering experiments (docs/experiments.md).
-- An experiment runs several arms (baseline, plans, random controls, sweep points) over the same items; every
-- (arm, item, sample) result is one row, committed in units of one batch, so a resumed run redoes nothing finished.

CREATE TABLE experiment (
  id                  INTEGER PRIMARY KEY,
  name                TEXT NOT NULL,
  task                TEXT NOT NULL CHECK (task IN ('nll', 'choice', 'generate', 'translate')),
  spec                TEXT NOT NULL,              -- the normalised spec, JSON
  spec_hash           TEXT NOT NULL,
  model_path          TEXT NOT NULL,
  model_fingerprint   TEXT NOT NULL,
  dataset_fingerprint TEXT NOT NULL,
  engine_version      TEXT,
  execution_provider  TEXT,
  status              TEXT NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'running', 'completed', 'cancelled', 'failed')),
  error               TEXT,
  units_total         INTEGER NOT NULL DEFAULT 0,
  units_done          INTEGER NOT NULL DEFAULT 0,
  worker_host         TEXT,
  worker_pid          INTEGER,
  worker_started      TEXT,
  created_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX experiment_name ON experiment (name);

CREATE TABLE experiment_arm (
  experiment_id INTEGER NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,
  arm_index     INTEGER NOT NULL,
  name          TEXT NOT NULL,
  kind          TEXT NOT NULL,                     -- baseline | plan | recipe | random
  source        TEXT NOT NULL,                     -- where the plan came from, in words
  plan          TEXT,                              -- project-format plan actually applied (JSON); NULL for the baseline
  plan_hash     TEXT,
  experts       TEXT NOT NULL,                     -- JSON: per MoE layer, the experts the plan touches
  PRIMARY KEY (experiment_id, name),
  UNIQUE (experiment_id, arm_index)
);

CREATE TABLE experiment_result (
  experiment_id INTEGER NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,
  arm           TEXT NOT NULL,
  language      TEXT NOT NULL,
  item_id       TEXT NOT NULL,
  item_index    INTEGER NOT NULL,
  sample        INTEGER NOT NULL,
  seed          INTEGER,
  prompt        TEXT NOT NULL,
  output        TEXT,                              -- generated text (generate, translate)
  extracted     TEXT,                              -- extracted answer; NULL = no answer
  score         REAL,                              -- the number the statistics use (0/1, F1, chrF, mean NLL)
  correct       INTEGER,                           -- 0/1 for binary outcomes, NULL otherwise
  no_answer     INTEGER,
  detected_lang TEXT,
  consistent    INTEGER,
  loglik        TEXT,                              -- JSON: nll {total, tokens}; choice {options, normalised}
  num_tokens    INTEGER NOT NULL,                  -- tokens scored (nll, choice) or generated (generate, translate)
  finish_reason TEXT,
  routing       TEXT,                              -- JSON {arm: [per MoE layer share of routing mass on that arm's experts]}
  extra         TEXT,                              -- JSON: task details (scoring rule, gold answer...)
  created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (experiment_id, arm, language, item_id, sample)
) WITHOUT ROWID;
