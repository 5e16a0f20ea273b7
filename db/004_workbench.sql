-- Routescope store, schema version 4: what the workbench needs in a project's database.

-- How the project was made ('blank' or 'demo': the embedded model and the UDHR corpus ready to capture).
ALTER TABLE project ADD COLUMN template TEXT NOT NULL DEFAULT 'blank';

-- Background jobs (captures, later analyses and experiments), so that after a restart a job whose process died shows
-- as interrupted and can be resumed from its parameters.
CREATE TABLE job (
  id           TEXT PRIMARY KEY,
  kind         TEXT NOT NULL,                          -- capture
  status       TEXT NOT NULL
               CHECK (status IN ('running', 'completed', 'cancelled', 'failed', 'interrupted')),
  run_id       INTEGER REFERENCES capture_run(id) ON DELETE SET NULL,
  params       TEXT NOT NULL,                          -- JSON: what started it, enough to resume it
  progress     TEXT,                                   -- JSON: the last progress record
  error        TEXT,
  worker_host  TEXT NOT NULL,                          -- machine and process running it, so a 'running' job
  worker_pid   INTEGER NOT NULL,                       -- whose process died can be told from a live one
  worker_started TEXT,                                 -- the process's identity beyond its pid (src/store/worker.ts)
  started_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  finished_at  TEXT
);
CREATE INDEX job_run ON job(run_id);
