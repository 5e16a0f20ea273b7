/**
 * The back end's pool of loaded engines, on the real demo model: one load shared by concurrent calls that take turns,
 * disposal after the idle timeout, when a project is closed (deleted) and on shutdown, and a failed load not kept.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EnginePool } from '../../src/api/engine-pool.js';
import { DEMO_MODEL_DIR } from '../../src/demo/resources.js';
import { loadEngine, type Engine } from '../../src/engine/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!existsSync(DEMO_MODEL_DIR))(`the engine pool (needs ${DEMO_MODEL_DIR})`, () => {
  it('loads once for concurrent calls, runs them one at a time, and disposes the engine when idle', async () => {
    const disposed: Engine[] = [];
    const pool = new EnginePool({
      idleMs: 80,
      load: async (dir, opts) => {
        const e = await loadEngine(dir, opts);
        return { ...e, dispose: async () => (disposed.push(e), e.dispose()) };
      },
    });
    let active = 0;
    let overlapped = false;
    const ids = [1, 2, 3];
    const call = () => pool.use('p', DEMO_MODEL_DIR, 'auto', async (engine, use) => {
      active++;
      if (active > 1) overlapped = true;
      const [g] = await engine.generate({ prompts: [ids], maxNewTokens: 3 });
      active--;
      return { ids: g!.generatedIds, use };
    });
    const [a, b] = await Promise.all([call(), call()]);
    expect(pool.diagnostics().loads).toBe(1);
    expect(overlapped).toBe(false);
    expect(b.ids).toEqual(a.ids);
    // The first call loaded it; the second found that load under way and waited for it.
    expect([a.use.reused, b.use.reused]).toEqual([false, true]);
    const c = await call();
    expect(c.use).toEqual({ reused: true, loadMs: 0 });
    expect(pool.diagnostics().engines).toMatchObject([{ modelDir: DEMO_MODEL_DIR, precision: 'auto', busy: false, projects: ['p'] }]);
    await sleep(200);
    expect(pool.diagnostics().engines).toEqual([]);
    expect(disposed).toHaveLength(1);
    // The next call loads again.
    await call();
    expect(pool.diagnostics().loads).toBe(2);
    await pool.closeAll();
  });

  it('disposes the engines a deleted project used, after the call in flight; keeps no failed load', async () => {
    const pool = new EnginePool({ idleMs: 60_000 });
    let finished = false;
    const inFlight = pool.use('doomed', DEMO_MODEL_DIR, 'auto', async (engine) => {
      await engine.generate({ prompts: [[1, 2]], maxNewTokens: 2 });
      finished = true;
    });
    await sleep(0);
    await pool.closeProject('doomed');
    expect(pool.diagnostics().engines).toEqual([]);
    await inFlight;
    expect(finished).toBe(true);

    await expect(pool.use('p', '/no/such/model', 'auto', async () => 1)).rejects.toThrow(/no\/such\/model/);
    expect(pool.diagnostics().engines).toEqual([]);
    await pool.closeAll();
  });
});
