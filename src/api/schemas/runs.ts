import { args } from '../schema.js';
import { name, projectId, runId } from './ids.js';

export interface RunSummary {
  id: number;
  name: string | null;
  status: string;
  model: string | null;
  dataset: string | null;
  languages: number;
  sequencesDone: number;
  sequencesTotal: number | null;
  tokensDone: number;
  createdAt: string;
  finishedAt: string | null;
}

export const runsArgs = {
  'runs.list': args({ projectId }),
  'runs.rename': args({ projectId, runId, name }),
  'runs.delete': args({ projectId, runId }),
};
