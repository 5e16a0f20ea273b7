import { writeFileSync } from 'node:fs';
import { AnalysisInputError } from '../../analysis/errors.js';
import {
  deltaSteeringPlan,
  maskingPlan,
  maskPlanJson,
  randomMaskControl,
  randomSteerControl,
  steeringPlan,
  steerPlanJson,
} from '../../analysis/plans.js';
import { loadRoutingSource, ROUTING_SOURCE_FLAGS } from '../routing-source.js';
import { parseCommandArgs, parseNumber, parseRange, requireString } from '../args.js';
import type { Command } from '../commands.js';
import { CliError } from '../errors.js';

const USAGE = `routescope plan steer --routing <folder> [--pattern 'mgsm_{lang}.json'] --targets en,zh [--k 20] [--thr 0.7]
                      [--layers 10-39] [--mode shared|aggregate] [--lambda 0.022] [--out steer.json]
routescope plan mask  --routing <folder> (--target sw | --shared) [--k 15] [--thr 0.4] --layers 0-4 [--out mask.json]
routescope plan delta --routing <folder> --target en_task --pivot en [--tau 0.3] [--layers 8-35] [--mode soft|hard]
                      [--lambda 0.5] [--eps 0.001] [--suppress] [--out plan.json]
Routing may also come from the store: --db <file> --run <id> instead of --routing; add --scope content to
  count only content tokens (chat-template tokens left out; default all). Recorder folders have no per-token
  data, so --scope needs a store run. Plans use aggregate frequencies only (no --sequences).
--order directory|name: order of the comparison languages in the float32 sums (default directory, as the
  reference implementation's os.listdir; the choice can move a coefficient by one float32 ulp).
steer/mask: --control-seed N --control-out FILE also writes a random-expert control plan (same experts per layer).
Plans are written in the reference implementation's JSON format (steer_data.json / intervention.json).`;

const common = {
  ...ROUTING_SOURCE_FLAGS,
  order: { type: 'string' },
  k: { type: 'string' },
  thr: { type: 'string' },
  layers: { type: 'string' },
  out: { type: 'string' },
  'control-seed': { type: 'string' },
  'control-out': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseOrder(text: string | undefined): 'name' | 'directory' {
  if (text === undefined || text === 'directory') return 'directory';
  if (text === 'name') return 'name';
  throw new CliError(`--order must be 'directory' or 'name', got '${text}'`);
}

function list(text: string, flag: string): string[] {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new CliError(`${flag} is empty`);
  return items;
}

function emit(text: string, out: string | undefined): void {
  if (out) writeFileSync(out, text);
  else process.stdout.write(text + '\n');
}

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof AnalysisInputError) throw new CliError(err.message);
    throw err;
  }
}

async function load(v: Record<string, string | boolean | undefined>) {
  if (v.sequences !== undefined) {
    throw new CliError('--sequences is for routescope analyze: plans are computed from aggregate expert frequencies, not per-sequence routing');
  }
  try {
    return await loadRoutingSource({
      routing: v.routing as string | undefined,
      pattern: v.pattern as string | undefined,
      db: v.db as string | undefined,
      run: v.run as string | undefined,
      order: parseOrder(v.order as string | undefined),
      scope: v.scope as string | undefined,
      onWarning: (m) => process.stderr.write(`routescope plan: warning: ${m}\n`),
    });
  } catch (err) {
    if (err instanceof AnalysisInputError) throw new CliError(err.message);
    throw err;
  }
}

function controlSeed(v: Record<string, string | boolean | undefined>): { seed: number; out: string } | undefined {
  const seed = v['control-seed'] as string | undefined;
  const out = v['control-out'] as string | undefined;
  if (seed === undefined && out === undefined) return undefined;
  if (seed === undefined || out === undefined) throw new CliError('--control-seed and --control-out go together');
  return { seed: parseNumber(seed, '--control-seed', undefined, true), out };
}

async function steer(args: string[]): Promise<number> {
  const { values: v } = parseCommandArgs('plan steer', args, {
    ...common,
    targets: { type: 'string' },
    mode: { type: 'string' },
    lambda: { type: 'string' },
  });
  if (v.help) return usage();
  const targets = list(requireString(v.targets, '--targets'), '--targets');
  const mode = (v.mode ?? 'shared') as string;
  if (mode !== 'shared' && mode !== 'aggregate') throw new CliError(`--mode must be 'shared' or 'aggregate', got '${mode}'`);
  const k = parseNumber(v.k, '--k', 20, true);
  const thr = parseNumber(v.thr, '--thr', 0.7);
  const lambda = parseNumber(v.lambda, '--lambda', 0.022);
  const layers = parseRange(v.layers ?? '10-39', '--layers');
  const control = controlSeed(v);
  const data = await load(v);
  const plan = wrap(() => steeringPlan(data, { targets, k, thr, layers, lambda, mode }));
  emit(steerPlanJson(plan), v.out);
  if (control) writeFileSync(control.out, steerPlanJson(wrap(() => randomSteerControl(plan, data.numExperts, control.seed))));
  const n = [...plan.steer.values()].reduce((s, m) => s + m.size, 0);
  process.stderr.write(`steering plan (${mode}, targets ${targets.join(',')}): ${n} experts over ${plan.steer.size} layers\n`);
  return 0;
}

async function mask(args: string[]): Promise<number> {
  const { values: v } = parseCommandArgs('plan mask', args, { ...common, target: { type: 'string' }, shared: { type: 'boolean' } });
  if (v.help) return usage();
  const shared = v.shared === true;
  if (shared && v.target) throw new CliError('give either --target <language> or --shared, not both');
  const targets = shared ? [] : list(requireString(v.target, '--target (or --shared)'), '--target');
  const k = parseNumber(v.k, '--k', 15, true);
  const thr = parseNumber(v.thr, '--thr', 0.4);
  const layers = parseRange(requireString(v.layers, '--layers'), '--layers');
  const control = controlSeed(v);
  const data = await load(v);
  const plan = wrap(() => maskingPlan(data, { targets, shared, k, thr, layers }));
  emit(maskPlanJson(plan), v.out);
  if (control) writeFileSync(control.out, maskPlanJson(wrap(() => randomMaskControl(plan, data.numExperts, control.seed))));
  const n = [...plan.values()].reduce((s, x) => s + x.length, 0);
  process.stderr.write(`masking plan (${shared ? 'shared experts' : `exclusive to ${targets.join(',')}`}): ${n} experts over ${plan.size} layers\n`);
  return 0;
}

async function delta(args: string[]): Promise<number> {
  const { values: v } = parseCommandArgs('plan delta', args, {
    ...common,
    target: { type: 'string' },
    pivot: { type: 'string' },
    tau: { type: 'string' },
    mode: { type: 'string' },
    lambda: { type: 'string' },
    eps: { type: 'string' },
    suppress: { type: 'boolean' },
  });
  if (v.help) return usage();
  const target = requireString(v.target, '--target');
  const pivot = requireString(v.pivot, '--pivot');
  const tau = parseNumber(v.tau, '--tau', 0.3);
  const mode = (v.mode ?? 'soft') as string;
  if (mode !== 'soft' && mode !== 'hard') throw new CliError(`--mode must be 'soft' or 'hard', got '${mode}'`);
  const layers = parseRange(v.layers ?? '8-35', '--layers');
  const lambda = parseNumber(v.lambda, '--lambda', 0.5);
  const eps = parseNumber(v.eps, '--eps', 1e-3);
  const data = await load(v);
  const plan = wrap(() => deltaSteeringPlan(data, { target, pivot, tau, layers, mode, lambda, eps, suppress: v.suppress === true }));
  emit(JSON.stringify(plan, null, 2), v.out);
  return 0;
}

function usage(): number {
  process.stdout.write(USAGE + '\n');
  return 0;
}

export const planCommand: Command = {
  summary: 'steering / masking plans from captured routing (arXiv 2601.14050, 2510.04694)',
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === 'steer') return steer(rest);
    if (sub === 'mask') return mask(rest);
    if (sub === 'delta') return delta(rest);
    if (sub === undefined || sub === '--help' || sub === '-h') return usage();
    throw new CliError(`unknown plan kind '${sub}' (steer, mask or delta)\n${USAGE}`);
  },
};
