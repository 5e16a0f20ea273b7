-- Routescope store, schema version 6: the analysis settings a researcher chose for a run (the workbench's Analysis
-- view), so that reopening the run shows the same measure, linkage, k, thr, pivot and bands.
CREATE TABLE analysis_settings (
  run_id     INTEGER PRIMARY KEY REFERENCES capture_run(id) ON DELETE CASCADE,
  settings   TEXT NOT NULL,                            -- JSON: {measure, linkage, k, thr, pivot, bands}, only what was set
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
