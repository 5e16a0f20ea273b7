-- Weight precision a capture run was made at (fp32, fp16, ...; docs/precision.md). NULL for runs made
-- before it was recorded and for imported recorder routing, whose precision Routescope cannot know.
ALTER TABLE capture_run ADD COLUMN precision TEXT;
