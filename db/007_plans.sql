-- Routescope store, schema version 7: steering and masking plans saved from the workbench's steering lab.

-- A plan is kept as the recipe that built it (src/eval/experiment's recipe shape: steer / mask / delta with its k,
-- thr, layers, lambda, targets) together with the routing it was computed from and the project-format plan it gave,
-- so an experiment arm can use either the recipe (recomputed from the run) or the exact stored plan.
CREATE TABLE plan (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL,
  run_id      INTEGER REFERENCES capture_run(id) ON DELETE SET NULL,  -- the routing it was built from
  scope       TEXT NOT NULL DEFAULT 'all' CHECK (scope IN ('all', 'content')),
  recipe      TEXT NOT NULL,                                          -- JSON recipe
  plan        TEXT NOT NULL,                                          -- JSON project-format plan (routescope-plan v1)
  experts     INTEGER NOT NULL,                                       -- how many (layer, expert) pairs it touches
  created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
