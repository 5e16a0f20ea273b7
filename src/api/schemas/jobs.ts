import { args, s } from '../schema.js';
import { projectId } from './ids.js';

export type JobStatus = 'running' | 'completed' | 'cancelled' | 'failed' | 'interrupted';
export type JobStage = 'preparing' | 'capturing' | 'analysing' | 'done';

export interface JobProgress {
  stage: JobStage;
  /** 0..1 over the capture; null before anything is known. */
  fraction: number | null;
  sequencesDone: number;
  sequencesTotal: number;
  tokensDone: number;
  tokensPerSecond: number;
  etaSeconds: number | null;
  /** The latest log line of the job. */
  message: string;
}

export interface JobInfo {
  id: string;
  kind: 'capture' | 'experiment';
  projectId: string;
  status: JobStatus;
  progress: JobProgress;
  error: string | null;
  /** The capture run the job writes, as soon as it is known. */
  runId: number | null;
  /** Experiment jobs: the experiment they run, once created. */
  experimentId?: number | null;
  /** Cancelled or interrupted with committed work left to do: capture.resume continues it. */
  resumable: boolean;
  startedAt: string;
  finishedAt: string | null;
}

/** The single event shape both transports deliver. */
export type ApiEvent = { type: 'job'; job: JobInfo };

const jobId = s.string({ max: 100 });

export const jobsArgs = {
  /** Jobs of a project from its database (a job whose process died shows as interrupted), newest first. */
  'jobs.list': args({ projectId }),
  'jobs.get': args({ jobId }),
  'jobs.cancel': args({ jobId }),
};
