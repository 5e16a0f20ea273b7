-- Routescope store, schema version 5: the analysis settings a researcher chose for a run (the workbench's Analysis
-- view), so that reopening the run shows the same measure, linkage, k, thr, pivot and bands.
-- (Written as 006 in issue 9's plan; numbered 005 on this branch so the sequence has no gap.)
CREATE TABLE analysis_settings (
  run_id     INTEGER PRIMARY KEY REFERENCES capture_run(id) ON DELETE CASCADE,
  settings   TEXT NOT NULL,                            -- JSON: {measure, linkage, k, thr, pivot, bands}, only what was set
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
