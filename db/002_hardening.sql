-- Routescope store, schema version 2 (issue #11 hardening).

-- Per-file detail behind model.fingerprint (JSON, src/store/fingerprint.ts): sizes, header hashes, hashes of every
-- router tensor and of sampled blocks, so a refused resume can say which file or tensor changed. NULL for models
-- recorded before version 2 (their fingerprint covers config.json and safetensors headers only).
ALTER TABLE model ADD COLUMN fingerprint_detail TEXT;

-- Identity of the worker process beyond its pid (Linux: boot id and the process's start time), so that a pid
-- reused by another process after the worker died is not mistaken for a live worker.
ALTER TABLE capture_run ADD COLUMN worker_started TEXT;
