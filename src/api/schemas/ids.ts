import { ApiError } from '../errors.js';
import { s, show, type Schema } from '../schema.js';

/**
 * A project id is its folder's name under the workbench's data folder: lower-case letters, digits and dashes only,
 * so an id can never name a path outside it.
 */
export const PROJECT_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;

export const projectId: Schema<string> = {
  check(v, m, f) {
    if (typeof v !== 'string' || !PROJECT_ID.test(v)) {
      throw new ApiError('invalid-argument', `${m}: ${f} must be a project id (lower-case letters, digits, dashes), got ${show(v)}`, { field: f });
    }
    return v;
  },
};
export const runId = s.int({ min: 1 });
export const name = s.string({ max: 200 });
export const path = s.string({ max: 4096 });
