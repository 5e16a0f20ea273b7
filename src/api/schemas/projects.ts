import { args, none, s } from '../schema.js';
import { name, projectId } from './ids.js';

export interface ProjectView {
  id: string;
  name: string;
  /** The project's folder: its database (project.db) and files. */
  folder: string;
  createdAt: string;
  /** When it was last opened in the workbench; null when never. */
  openedAt: string | null;
  runs: number;
  models: number;
  /** Made from the demo template: the embedded model and the UDHR corpus. */
  demo: boolean;
}

export const PROJECT_TEMPLATES = ['blank', 'demo'] as const;
export type ProjectTemplate = (typeof PROJECT_TEMPLATES)[number];

export const projectsArgs = {
  /** Every project, most recently opened first. */
  'projects.list': none,
  'projects.create': args({ name, template: s.optional(s.oneOf(PROJECT_TEMPLATES)) }),
  'projects.open': args({ projectId }),
  'projects.rename': args({ projectId, name }),
  /** Deletes the project's folder; `confirmName` must repeat the project's name. */
  'projects.delete': args({ projectId, confirmName: name }),
};
