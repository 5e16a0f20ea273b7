/**
 * Projects on disk: <dataDir>/projects/<id>/project.db, one Routescope store per project, whose `project` row holds
 * the name and template. The id is the folder name (the name's slug and a creation stamp, fixed at creation and never
 * given to another project; renaming changes only the name), and
 * <dataDir>/recent.json records when each project was last opened.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { Store, StoreError } from '../store/index.js';
import { ApiError } from './errors.js';
import { PROJECT_ID } from './schemas/ids.js';
import type { ProjectTemplate, ProjectView } from './schemas/projects.js';

const DB_FILE = 'project.db';

interface ProjectRow {
  name: string;
  template: string;
  created_at: string;
}

function slug(name: string): string {
  const base = name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48);
  return base || 'project';
}

/**
 * The name's slug with its creation stamp (milliseconds, base 36) and two random characters: a project deleted and
 * created again under the same name gets another id, so a page still showing the old one gets not-found instead of
 * talking to the new one. Ids made before (the bare slug, or slug-2) stay valid: only new ones have the stamp.
 */
function newProjectId(name: string): string {
  const random = Array.from({ length: 2 }, () => randomInt(36).toString(36)).join('');
  return `${slug(name)}-${Date.now().toString(36)}${random}`;
}

export interface WorkspaceOptions {
  /** How long a write waits for another window's or process's write lock before answering 'locked'; default 5000 ms. */
  busyTimeoutMs?: number;
}

export class Workspace {
  readonly projectsDir: string;
  private readonly recentFile: string;
  private readonly busyTimeoutMs: number | undefined;
  /** Names seen in this process, so a message about a project whose database cannot be read still names it. */
  private readonly names = new Map<string, string>();

  constructor(readonly dataDir: string, options: WorkspaceOptions = {}) {
    this.projectsDir = join(dataDir, 'projects');
    this.recentFile = join(dataDir, 'recent.json');
    this.busyTimeoutMs = options.busyTimeoutMs;
  }

  /** The project as a user knows it: its name in quotes with the id, or the id alone if never read here. */
  label(id: string): string {
    const name = this.names.get(id);
    return name === undefined ? `project ${id}` : `project ${JSON.stringify(name)} (${id})`;
  }

  /**
   * A store error on the project's database said in the project's terms: a lock held by another window or process
   * becomes a 'locked' error naming the project and what to do (nothing was written: the step's transaction never
   * started); a database gone meanwhile becomes not-found. Anything else passes through.
   */
  explain(id: string, err: unknown): unknown {
    if (err instanceof StoreError && err.code === 'locked') {
      return new ApiError('locked', `${this.label(id)} is busy: another window or process is writing to its database, so nothing was changed. Retry when it has finished, or close the other window. (${err.message})`, { projectId: id, retry: true });
    }
    // Whatever failed on a project whose folder is gone (a service's own not-found, a database that vanished
    // mid-call) is said as the deletion it is.
    if (!(err instanceof ApiError && err.details.deleted === true) && !this.existsQuietly(id)) return this.deleted(id);
    return err;
  }

  private existsQuietly(id: string): boolean {
    try {
      return this.exists(id);
    } catch {
      return true; // not a project id: the original error says what is wrong
    }
  }

  /** The error every call on a project deleted meanwhile gets (in another window, or by another process). */
  deleted(id: string): ApiError {
    return new ApiError('not-found', `${this.label(id)} does not exist (it may have been deleted in another window)`, { projectId: id, deleted: true });
  }

  folder(id: string): string {
    if (!PROJECT_ID.test(id)) throw new ApiError('invalid-argument', `not a project id: ${JSON.stringify(id)}`);
    return join(this.projectsDir, id);
  }

  dbFile(id: string): string {
    return join(this.folder(id), DB_FILE);
  }

  exists(id: string): boolean {
    return existsSync(this.dbFile(id));
  }

  /** Opens the project's store; a project deleted meanwhile (another window) is a not-found error saying so. */
  open(id: string, options: { readonly?: boolean } = {}): Store {
    if (!this.exists(id)) throw this.deleted(id);
    // create: false, so a call racing a delete never recreates the project's file.
    try {
      return Store.open(this.dbFile(id), { create: false, readonly: options.readonly, busyTimeoutMs: this.busyTimeoutMs });
    } catch (err) {
      throw this.explain(id, err);
    }
  }

  /** Runs fn with the project's store open, closing it afterwards; a lock or a deleted project is explained. */
  with<T>(id: string, fn: (store: Store) => T): T {
    const store = this.open(id);
    try {
      return fn(store);
    } catch (err) {
      throw this.explain(id, err);
    } finally {
      store.close();
    }
  }

  create(name: string, template: ProjectTemplate): string {
    mkdirSync(this.projectsDir, { recursive: true });
    let id = newProjectId(name);
    while (existsSync(join(this.projectsDir, id))) id = newProjectId(name);
    // Built in a temporary folder and renamed into place, so a half-made project is never listed.
    const tmp = join(this.projectsDir, `.creating-${id}-${process.pid}`);
    mkdirSync(tmp, { recursive: true });
    try {
      const store = Store.open(join(tmp, DB_FILE));
      try {
        store.write('creating the project', () => {
          store.db.prepare('INSERT INTO project(name, template) VALUES (?, ?)').run(name, template);
        });
      } finally {
        store.close();
      }
      renameSync(tmp, join(this.projectsDir, id));
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
    return id;
  }

  private row(store: Store): ProjectRow {
    const row = store.read('reading the project', () => store.db.prepare('SELECT name, template, created_at FROM project ORDER BY id LIMIT 1').get() as ProjectRow | undefined);
    if (!row) throw new StoreError('corrupt', `${store.file} has no project row`);
    return row;
  }

  /** The project's name as recorded in its database (capture runs record it too). */
  nameOf(store: Store): string {
    return this.row(store).name;
  }

  view(id: string): ProjectView {
    return this.with(id, (store) => {
      const row = this.row(store);
      this.names.set(id, row.name);
      const count = (table: string) => (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
      return {
        id, name: row.name, folder: this.folder(id), createdAt: row.created_at, openedAt: this.recent()[id] ?? null,
        runs: count('capture_run'), models: count('model'), demo: row.template === 'demo',
      };
    });
  }

  /** Every project, most recently opened first, then newest first. A damaged one is listed by id with a reason. */
  list(): ProjectView[] {
    if (!existsSync(this.projectsDir)) return [];
    const ids = readdirSync(this.projectsDir).filter((d) => PROJECT_ID.test(d) && this.exists(d));
    const views = ids.map((id) => this.view(id));
    return views.sort((a, b) => (b.openedAt ?? '').localeCompare(a.openedAt ?? '') || b.createdAt.localeCompare(a.createdAt));
  }

  touch(id: string): void {
    const recent = this.recent();
    recent[id] = new Date().toISOString();
    this.saveRecent(recent);
  }

  rename(id: string, name: string): void {
    this.with(id, (store) =>
      store.write('renaming the project', () => {
        const old = this.row(store).name;
        store.db.prepare('UPDATE project SET name = ? WHERE name = ?').run(name, old);
      }),
    );
    this.names.set(id, name);
  }

  delete(id: string, confirmName: string): void {
    const name = this.with(id, (store) => this.nameOf(store));
    if (confirmName !== name) {
      throw new ApiError('invalid-argument', `projects.delete: confirmName must repeat the project's name ${JSON.stringify(name)}, got ${JSON.stringify(confirmName)}`, { field: 'confirmName' });
    }
    rmSync(this.folder(id), { recursive: true, force: true });
    const recent = this.recent();
    delete recent[id];
    this.saveRecent(recent);
  }

  private recent(): Record<string, string> {
    try {
      const parsed = JSON.parse(readFileSync(this.recentFile, 'utf8')) as unknown;
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, string>) : {};
    } catch {
      // Missing or unreadable: the recent order is a convenience, never a reason to fail.
      return {};
    }
  }

  private saveRecent(recent: Record<string, string>): void {
    mkdirSync(this.dataDir, { recursive: true });
    writeFileSync(this.recentFile, JSON.stringify(recent, null, 2) + '\n');
  }
}
