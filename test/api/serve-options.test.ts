/** `routescope serve`'s environment switches: a bad value is refused by name before anything starts. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliInProcess } from '../support/cli.js';

describe('serve: environment switches', () => {
  const ui = mkdtempSync(join(tmpdir(), 'routescope-serve-env-'));
  writeFileSync(join(ui, 'index.html'), '<!doctype html>');
  afterAll(() => rmSync(ui, { recursive: true, force: true }));
  const serve = (env: Record<string, string>) => cliInProcess(['serve', '--ui', ui, '--data', join(ui, 'data'), '--port', '0'], env);

  it('refuses a capture engine other than worker or in-process', async () => {
    const r = await serve({ ROUTESCOPE_CAPTURE_ENGINE: 'gpu' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("ROUTESCOPE_CAPTURE_ENGINE must be 'worker' or 'in-process', got 'gpu'");
  });

  it('refuses an analysis thread other than worker or main', async () => {
    const r = await serve({ ROUTESCOPE_ANALYSIS_THREAD: 'gpu' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("ROUTESCOPE_ANALYSIS_THREAD must be 'worker' or 'main', got 'gpu'");
  });

  it('refuses an experiment engine other than worker or in-process', async () => {
    const r = await serve({ ROUTESCOPE_EXPERIMENT_ENGINE: 'thread' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("ROUTESCOPE_EXPERIMENT_ENGINE must be 'worker' or 'in-process', got 'thread'");
  });

  it('refuses an event-loop interval that is not a whole number of milliseconds', async () => {
    const r = await serve({ ROUTESCOPE_EVENT_LOOP_MS: '1e3x' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("ROUTESCOPE_EVENT_LOOP_MS must be a whole number of milliseconds (0: off), got '1e3x'");
  });
});
