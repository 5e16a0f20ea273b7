import { loadEngine, type Engine } from '../../engine/index.js';
import { loadPlanFile } from '../../engine/steering-plan.js';
import { parseCommandArgs, parsePrecisionFlag } from '../args.js';
import type { Command } from '../commands.js';
import { CliError } from '../errors.js';
import { readTextFile } from '../text-file.js';

const USAGE = `routescope forward <modelDir> (--text "..." | --text-file <path>|- | --ids 1,2,3) [--plan plan.json] [--json] [--ep auto|cpu|cuda]
                         [--precision auto|fp32|fp16|int8|int4]
--text-file reads the text from a UTF-8 file (or stdin for -), exactly as stored (a leading BOM is dropped);
use it for text longer than a command-line argument may be. Runs one forward pass and reports, per position, the logits and for every MoE layer the raw router logits and
the experts and weights used (after the plan's steering). --json prints only this JSON to stdout:
  { "tokens", "ids", "moe_layers", "logits": [pos][vocab], "router_logits": [moeLayer][pos][expert],
    "experts": [moeLayer][pos][k], "weights": [moeLayer][pos][k] }
Without --json a readable summary is printed. Logs go to stderr. --precision: see docs/precision.md (default auto:
the most faithful precision whose memory plan fits this machine).`;

function parseIds(text: string): number[] {
  const parts = text.split(',').map((p) => p.trim());
  const ids = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : NaN));
  const bad = parts.find((_, i) => !Number.isSafeInteger(ids[i]));
  if (bad !== undefined || ids.length === 0) throw new CliError(`--ids must be comma-separated non-negative integers, got '${bad ?? text}'`);
  return ids;
}

function rows(flat: ArrayLike<number>, width: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < flat.length; i += width) out.push(Array.from({ length: width }, (_, j) => flat[i + j]!));
  return out;
}

export const forwardCommand: Command = {
  summary: 'run one forward pass and print logits and per-layer routing',
  async run(args) {
    const { values, positionals } = parseCommandArgs('forward', args, {
      text: { type: 'string' },
      'text-file': { type: 'string' },
      ids: { type: 'string' },
      plan: { type: 'string' },
      json: { type: 'boolean' },
      ep: { type: 'string' },
      precision: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (positionals.length !== 1) throw new CliError(`forward takes one model folder\n${USAGE}`);
    const given = [values.text, values['text-file'], values.ids].filter((v) => v !== undefined).length;
    if (given !== 1) throw new CliError('give exactly one of --text, --text-file or --ids');
    const ep = values.ep ?? 'auto';
    if (ep !== 'auto' && ep !== 'cpu' && ep !== 'cuda') throw new CliError(`--ep must be auto, cpu or cuda, got '${ep}'`);
    const explicitIds = values.ids !== undefined ? parseIds(values.ids) : undefined;
    // Read before the model loads, so a bad file fails fast.
    const text = values['text-file'] !== undefined ? readTextFile(values['text-file']) : values.text;

    const engine: Engine = await loadEngine(positionals[0]!, { executionProvider: ep, precision: parsePrecisionFlag(values.precision) });
    try {
      process.stderr.write(`${engine.info.architecture} on ${engine.info.executionProvider.name} (${engine.info.executionProvider.reason})\n`);
      if (engine.info.precision) process.stderr.write(`precision ${engine.info.precision.name} (${engine.info.precision.reason})\n`);
      let ids: number[];
      if (explicitIds) ids = explicitIds;
      else {
        if (!engine.tokenizer) throw new CliError(`${engine.folder.dir} has no tokenizer.json; use --ids instead of text`);
        ids = engine.tokenizer.encode(text!, { addSpecialTokens: true });
        if (ids.length === 0) throw new CliError('the text encodes to no tokens');
      }
      const steering = values.plan ? loadPlanFile(values.plan, engine.steeringModel) : undefined;
      for (const w of steering?.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
      const r = await engine.forward([ids], { steering });
      const tokens = engine.tokenizer ? engine.tokenizer.tokenStrings(ids) : ids.map(String);
      const { numExperts: E, topK: k, moeLayers } = engine.info;
      if (values.json) {
        const out = {
          tokens,
          ids,
          moe_layers: moeLayers,
          logits: rows(r.logits, r.vocabSize),
          router_logits: r.routing!.map((l) => rows(l.routerLogits, E)),
          experts: r.routing!.map((l) => rows(l.experts, k)),
          weights: r.routing!.map((l) => rows(l.weights, k)),
        };
        process.stdout.write(JSON.stringify(out) + '\n');
        return 0;
      }
      const lines: string[] = [];
      ids.forEach((id, t) => {
        const logits = r.logits.subarray(t * r.vocabSize, (t + 1) * r.vocabSize);
        let best = 0;
        for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
        const next = engine.tokenizer ? JSON.stringify(engine.tokenizer.decode([best])) : String(best);
        lines.push(`[${t}] ${JSON.stringify(tokens[t])} (id ${id}) -> next ${next}`);
        r.routing!.forEach((l, i) => {
          const ex = Array.from(l.experts.subarray(t * k, (t + 1) * k));
          const w = Array.from(l.weights.subarray(t * k, (t + 1) * k), (x) => x.toFixed(3));
          lines.push(`    layer ${String(moeLayers[i]).padStart(3)}: experts ${ex.join(' ')}  weights ${w.join(' ')}`);
        });
      });
      process.stdout.write(lines.join('\n') + '\n');
      return 0;
    } finally {
      await engine.dispose();
    }
  },
};
