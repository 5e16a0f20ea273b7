/**
 * Argument checks for API calls. Both transports deliver whatever JSON the caller sent, so every handler checks
 * its argument here and answers with an error that names the method, the field and what was wrong.
 */
import type { DemoStartArgs, MatrixMetric, UdhrSplit } from './contract.js';
import { ApiError, type ApiErrorDetails } from './errors.js';

/** A bad argument: HTTP 400, code 'invalid-argument' on every transport. */
export class ApiArgError extends ApiError {
  constructor(message: string, details: ApiErrorDetails = {}) {
    super('invalid-argument', message, details);
    this.name = 'ApiArgError';
  }
}

const show = (v: unknown): string => {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

export function argObject(method: string, args: unknown, allowed: readonly string[], optional = false): Record<string, unknown> {
  if (args === undefined || args === null) {
    if (optional) return {};
    throw new ApiArgError(`${method}: expected an object argument with ${allowed.join(', ')}, got ${show(args)}`);
  }
  if (typeof args !== 'object' || Array.isArray(args)) throw new ApiArgError(`${method}: expected an object argument, got ${show(args)}`);
  const extra = Object.keys(args).filter((k) => !allowed.includes(k));
  if (extra.length) throw new ApiArgError(`${method}: unknown field${extra.length > 1 ? 's' : ''} ${extra.join(', ')} (allowed: ${allowed.join(', ')})`);
  return args as Record<string, unknown>;
}

export function noArgs(method: string, args: unknown): void {
  if (args !== undefined && args !== null && !(typeof args === 'object' && !Array.isArray(args) && Object.keys(args).length === 0)) {
    throw new ApiArgError(`${method} takes no argument, got ${show(args)}`);
  }
}

export function nonNegativeInt(method: string, field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ApiArgError(`${method}: ${field} must be a non-negative integer, got ${show(v)}`);
  return v;
}

export function positiveInt(method: string, field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new ApiArgError(`${method}: ${field} must be a positive integer, got ${show(v)}`);
  return v;
}

export function nonEmptyString(method: string, field: string, v: unknown): string {
  if (typeof v !== 'string' || v.trim() === '') throw new ApiArgError(`${method}: ${field} must be a non-empty string, got ${show(v)}`);
  return v;
}

export function optionalString(method: string, field: string, v: unknown): string | undefined {
  return v === undefined ? undefined : nonEmptyString(method, field, v);
}

const SPLITS: readonly UdhrSplit[] = ['heldout', 'train', 'all'];
const METRICS: readonly MatrixMetric[] = ['cosine', 'jsd', 'njsd'];

export function checkDemoStart(args: unknown, demoLanguages: readonly string[]): Required<Pick<DemoStartArgs, 'split' | 'fresh'>> & Omit<DemoStartArgs, 'split' | 'fresh'> {
  const m = 'demo.start';
  const a = argObject(m, args, ['languages', 'limit', 'split', 'fresh'], true);
  const out: ReturnType<typeof checkDemoStart> = { split: 'heldout', fresh: false };
  if (a.languages !== undefined) {
    if (!Array.isArray(a.languages) || !a.languages.every((l) => typeof l === 'string')) {
      throw new ApiArgError(`${m}: languages must be an array of language codes, got ${show(a.languages)}`);
    }
    const langs = a.languages as string[];
    const unknown = langs.filter((l) => !demoLanguages.includes(l));
    if (unknown.length) throw new ApiArgError(`${m}: ${unknown.join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not among the demo languages (${demoLanguages.join(', ')})`);
    if (new Set(langs).size !== langs.length) throw new ApiArgError(`${m}: languages lists a language twice`);
    if (langs.length < 3) throw new ApiArgError(`${m}: languages needs at least 3 languages to cluster, got ${langs.length}`);
    out.languages = langs;
  }
  if (a.limit !== undefined) out.limit = positiveInt(m, 'limit', a.limit);
  if (a.split !== undefined) {
    if (!SPLITS.includes(a.split as UdhrSplit)) throw new ApiArgError(`${m}: split must be one of ${SPLITS.join(', ')}, got ${show(a.split)}`);
    out.split = a.split as UdhrSplit;
  }
  if (a.fresh !== undefined) {
    if (typeof a.fresh !== 'boolean') throw new ApiArgError(`${m}: fresh must be true or false, got ${show(a.fresh)}`);
    out.fresh = a.fresh;
  }
  return out;
}

export function checkJobId(method: string, args: unknown): string {
  return nonEmptyString(method, 'jobId', argObject(method, args, ['jobId']).jobId);
}

export function checkOverviewArgs(args: unknown): { runId: number; pivot?: string; target?: string } {
  const m = 'analysis.overview';
  const a = argObject(m, args, ['runId', 'pivot', 'target']);
  return { runId: positiveInt(m, 'runId', a.runId), pivot: optionalString(m, 'pivot', a.pivot), target: optionalString(m, 'target', a.target) };
}

export function checkLayerArgs(args: unknown): { runId: number; layer: number; metric: MatrixMetric; pivot?: string } {
  const m = 'analysis.layer';
  const a = argObject(m, args, ['runId', 'layer', 'metric', 'pivot']);
  const metric = a.metric ?? 'cosine';
  if (!METRICS.includes(metric as MatrixMetric)) throw new ApiArgError(`${m}: metric must be one of ${METRICS.join(', ')}, got ${show(a.metric)}`);
  return {
    runId: positiveInt(m, 'runId', a.runId),
    layer: nonNegativeInt(m, 'layer', a.layer),
    metric: metric as MatrixMetric,
    pivot: optionalString(m, 'pivot', a.pivot),
  };
}
