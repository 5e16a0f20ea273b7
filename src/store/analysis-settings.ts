/**
 * Analysis settings kept with a run (db/006_analysis_settings.sql). The store keeps the JSON the workbench saved and
 * hands it back as is; what the fields mean and which values are allowed is the API's business (src/api/run-analysis).
 */
import type { Store } from './db.js';
import { StoreError } from './errors.js';

export function readAnalysisSettings(store: Store, runId: number): Record<string, unknown> | null {
  const row = store.db.prepare('SELECT settings FROM analysis_settings WHERE run_id = ?').get(runId) as { settings: string } | undefined;
  if (!row) return null;
  try {
    const v = JSON.parse(row.settings) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new StoreError('corrupt', `analysis settings of run ${runId} are not a JSON object: ${row.settings.slice(0, 80)}`);
}

/** Replaces the run's settings; null removes them (the defaults apply again). */
export function writeAnalysisSettings(store: Store, runId: number, settings: Record<string, unknown> | null): void {
  if (settings === null) store.db.prepare('DELETE FROM analysis_settings WHERE run_id = ?').run(runId);
  else {
    store.db
      .prepare(`INSERT INTO analysis_settings (run_id, settings) VALUES (?, ?)
        ON CONFLICT(run_id) DO UPDATE SET settings = excluded.settings, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`)
      .run(runId, JSON.stringify(settings));
  }
}
