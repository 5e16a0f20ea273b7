-- Weight precision an experiment ran at (fp32, fp16, int8, int4; docs/precision.md), as capture_run.precision
-- (005) records it for capture runs. NULL for experiments run before it was recorded.
ALTER TABLE experiment ADD COLUMN precision TEXT;
