import { mkdirSync } from 'node:fs';
import { parseBands } from '../../analysis/bands.js';
import { LINKAGES, type Linkage } from '../../analysis/clustering.js';
import { AnalysisInputError } from '../../analysis/errors.js';
import { METRICS, type Metric } from '../../analysis/measures.js';
import { analyzeRouting, writeReport } from '../../analysis/report.js';
import { genealogyForCodes, languageLookup, loadRoutingSource, ROUTING_SOURCE_FLAGS } from '../routing-source.js';
import { parseCommandArgs, parseNumber, requireString } from '../args.js';
import type { Command } from '../commands.js';
import { CliError } from '../errors.js';

const USAGE = `routescope analyze --routing <folder> [--pattern 'mgsm_{lang}.json'] --out DIR
       [--pivot en] [--k 15] [--thr 0.4] [--linkage average,complete,single,ward] [--metric jsd|njsd|cosine]
       [--weighting count|gate] [--bands 0-4,22-26,43-47]
Routing may also come from the store: --db <file> --run <id> [--scope all|content] [--sequences gate|frequency].
  --scope content counts only content tokens (chat-template tokens left out; default all).
  --sequences adds language x language matrices averaged over parallel sequences (sequence i of A against
  sequence i of B) and their pivot curves; 'gate' compares mean gate weights, 'frequency' selection rates.
  Both need a store run: recorder JSON folders have no per-token data.
Writes matrices, dendrograms (Newick + JSON), family agreement, specialisation tables, per-layer curves
(JSON + CSV) and summary.md into DIR.`;

export const analyzeCommand: Command = {
  summary: 'per-layer language similarity, dendrograms, family agreement and expert specialisation report',
  async run(args) {
    const { values: v } = parseCommandArgs('analyze', args, {
      ...ROUTING_SOURCE_FLAGS,
      out: { type: 'string' },
      pivot: { type: 'string' },
      k: { type: 'string' },
      thr: { type: 'string' },
      linkage: { type: 'string' },
      metric: { type: 'string' },
      weighting: { type: 'string' },
      bands: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (v.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    const out = requireString(v.out, '--out');
    const linkages = (v.linkage ?? LINKAGES.join(',')).split(',').map((s) => s.trim()) as Linkage[];
    for (const l of linkages) if (!LINKAGES.includes(l)) throw new CliError(`--linkage: '${l}' is not one of ${LINKAGES.join(', ')}`);
    const metric = (v.metric ?? 'jsd') as Metric;
    if (!METRICS.includes(metric)) throw new CliError(`--metric must be one of ${METRICS.join(', ')}, got '${metric}'`);
    const weighting = v.weighting ?? 'count';
    if (weighting !== 'count' && weighting !== 'gate') throw new CliError(`--weighting must be 'count' or 'gate', got '${weighting}'`);
    try {
      const data = await loadRoutingSource({ routing: v.routing, pattern: v.pattern, db: v.db, run: v.run, order: 'name', scope: v.scope, sequences: v.sequences,
        onWarning: (m) => process.stderr.write(`routescope analyze: warning: ${m}\n`) });
      const lookup = languageLookup();
      let lastStage = '';
      const result = analyzeRouting(data, {
        pivot: v.pivot,
        k: parseNumber(v.k, '--k', 15),
        thr: parseNumber(v.thr, '--thr', 0.4),
        linkages,
        clusterMetric: metric,
        weighting,
        bands: v.bands ? parseBands(v.bands, data.numLayers) : undefined,
        genealogy: genealogyForCodes(lookup),
        onProgress: (done, total, stage) => {
          if (stage !== lastStage) process.stderr.write(`analyze: ${stage}...\n`);
          lastStage = stage;
          void done;
          void total;
        },
      });
      mkdirSync(out, { recursive: true });
      const files = writeReport(result, out);
      process.stderr.write(`analyze: wrote ${files.length} files to ${out}; U-shape ${result.uShape.text}\n`);
      return 0;
    } catch (err) {
      if (err instanceof AnalysisInputError) throw new CliError(err.message);
      throw err;
    }
  },
};
