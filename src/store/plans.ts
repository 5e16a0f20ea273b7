/**
 * Saved steering and masking plans of a project (db/007_plans.sql): the recipe, the run it was computed from and
 * the project-format plan it produced.
 */
import type { Store } from './db.js';
import { StoreError } from './errors.js';

export interface PlanRecord {
  id: number;
  name: string;
  runId: number | null;
  scope: 'all' | 'content';
  recipe: unknown;
  plan: Record<string, unknown>;
  experts: number;
  createdAt: string;
}

interface PlanRow { id: number; name: string; run_id: number | null; scope: 'all' | 'content'; recipe: string; plan: string; experts: number; created_at: string }

function toRecord(r: PlanRow): PlanRecord {
  return {
    id: r.id, name: r.name, runId: r.run_id, scope: r.scope, recipe: JSON.parse(r.recipe) as unknown,
    plan: JSON.parse(r.plan) as Record<string, unknown>, experts: r.experts, createdAt: r.created_at,
  };
}

export function insertPlan(store: Store, p: { name: string; runId: number | null; scope: 'all' | 'content'; recipe: unknown; plan: Record<string, unknown>; experts: number }): number {
  return store.write(`saving plan '${p.name}'`, () => {
    const info = store.db
      .prepare('INSERT INTO plan(name, run_id, scope, recipe, plan, experts) VALUES (?,?,?,?,?,?)')
      .run(p.name, p.runId, p.scope, JSON.stringify(p.recipe), JSON.stringify(p.plan), p.experts);
    return Number(info.lastInsertRowid);
  });
}

export function listPlans(store: Store): PlanRecord[] {
  return store.read('listing plans', () => (store.db.prepare('SELECT * FROM plan ORDER BY id').all() as PlanRow[]).map(toRecord));
}

export function getPlan(store: Store, id: number): PlanRecord {
  const row = store.read('reading a plan', () => store.db.prepare('SELECT * FROM plan WHERE id = ?').get(id) as PlanRow | undefined);
  if (!row) throw new StoreError('not-found', `plan ${id} does not exist in ${store.file}`);
  return toRecord(row);
}

export function renamePlan(store: Store, id: number, name: string): void {
  store.write(`renaming plan ${id}`, () => {
    if (store.db.prepare('UPDATE plan SET name = ? WHERE id = ?').run(name, id).changes === 0) throw new StoreError('not-found', `plan ${id} does not exist in ${store.file}`);
  });
}

export function deletePlan(store: Store, id: number): void {
  store.write(`deleting plan ${id}`, () => {
    if (store.db.prepare('DELETE FROM plan WHERE id = ?').run(id).changes === 0) throw new StoreError('not-found', `plan ${id} does not exist in ${store.file}`);
  });
}
