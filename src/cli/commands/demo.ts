import { DemoResourceError } from '../../demo/resources.js';
import { progressBar } from '../progress-bar.js';
import { experimentBarProgress } from './experiment.js';
import { runDemo } from '../../demo/run-demo.js';
import { CaptureError } from '../../capture/job.js';
import { DatasetError } from '../../datasets/index.js';
import { AnalysisInputError } from '../../analysis/index.js';
import { StoreError } from '../../store/index.js';
import { ExperimentError } from '../../eval/experiment/index.js';
import { parseCommandArgs, parseLangs, parsePrecisionFlag, positiveInt } from '../args.js';
import type { Command } from '../commands.js';
import { CliError } from '../errors.js';
import { cancelOnSigint } from '../sigint.js';

const USAGE = `routescope demo [--out DIR] [--db FILE] [--langs a,b,c] [--limit N] [--split heldout|train|all]
                [--target swh] [--pivot eng] [--fresh] [--batch N] [--threads N] [--model DIR]
                [--precision auto|fp32|fp16|int8|int4]
Runs the whole loop on the embedded model (resources/demo-model) and the UDHR parallel corpus: captures expert
routing for the demo languages (resources/corpus/demo-languages.json; UDHR corpus ids such as eng, swh, cmn) into
a database, then prints and saves the per-layer dendrogram summary with family agreement, the early/middle/late
pattern, shared vs language-exclusive experts per layer, and the steering plan the analysis proposes for --target
(default swh) toward --pivot (default eng) in the middle layers.
  --out DIR     where results go (default ./routescope-demo); the database defaults to DIR/demo.db
  --split       UDHR split (default heldout: articles 26-30, never seen in training)
  --fresh       capture again even if the database holds a matching completed run (otherwise it is reused,
                and an interrupted one is resumed)
  --model DIR   another model folder instead of the embedded one
  --no-experiment  skip the closing experiment (held-out NLL of the target language under the plan, against the
                baseline and 8 random-expert controls; resources/experiments/demo-nll.json)
Ctrl-C stops the capture (or the experiment) cleanly; running the demo again resumes it.`;

export const demoCommand: Command = {
  summary: 'capture + analysis + steering plan on the embedded model and UDHR corpus',
  async run(args) {
    const { values: v, positionals } = parseCommandArgs('demo', args, {
      out: { type: 'string' },
      db: { type: 'string' },
      langs: { type: 'string' },
      limit: { type: 'string' },
      split: { type: 'string' },
      target: { type: 'string' },
      pivot: { type: 'string' },
      fresh: { type: 'boolean' },
      batch: { type: 'string' },
      threads: { type: 'string' },
      precision: { type: 'string' },
      model: { type: 'string' },
      'no-experiment': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (v.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (positionals.length) throw new CliError(`demo takes no positional arguments (got ${positionals.join(' ')})`);
    const split = v.split ?? 'heldout';
    if (split !== 'heldout' && split !== 'train' && split !== 'all') throw new CliError(`--split must be heldout, train or all, got '${split}'`);
    const t0 = performance.now();
    const bar = progressBar(process.stderr, 'capture');
    const expBar = progressBar(process.stderr, 'experiment');
    const sig = cancelOnSigint(() => {
      bar.done();
      expBar.done();
      process.stderr.write('cancelling: committed batches are kept; run the demo again to resume (Ctrl-C again to stop at once)\n');
    });
    try {
      const res = await runDemo({
        modelDir: v.model, out: v.out, db: v.db, languages: parseLangs(v.langs), limit: positiveInt(v.limit, '--limit'), split,
        target: v.target, pivot: v.pivot, fresh: v.fresh === true, batchSize: positiveInt(v.batch, '--batch'), threads: positiveInt(v.threads, '--threads'), precision: parsePrecisionFlag(v.precision),
        noExperiment: v['no-experiment'] === true, signal: sig.signal, onProgress: (p) => bar.update(p),
        onExperimentProgress: (p) => {
          bar.done();
          expBar.update(experimentBarProgress(p));
        },
        log: (line) => process.stderr.write(line + '\n'),
      });
      bar.done();
      expBar.done();
      if (res.status === 'cancelled') {
        process.stdout.write(`demo cancelled during capture (run ${res.runId} in ${res.db}); run the demo again to resume it\n`);
        return 130;
      }
      process.stdout.write(res.text!);
      process.stdout.write(`Files (${res.files.length}) in ${res.out}: demo-summary.md, demo.json, ${res.files.find((f) => f.includes('steer-'))!.slice(res.out.length + 1)}, analysis/ (matrices, dendrograms, family agreement, specialisation)\n`);
      const exp = res.experiment ? `, experiment ${res.experiment.seconds.toFixed(1)} s` : '';
      process.stdout.write(`Routing ${res.capture} in ${res.captureSeconds.toFixed(1)} s, analysis ${res.analysisSeconds.toFixed(1)} s${exp}, total ${((performance.now() - t0) / 1000).toFixed(1)} s.\n`);
      return 0;
    } catch (err) {
      if (err instanceof DemoResourceError || err instanceof CaptureError || err instanceof DatasetError || err instanceof StoreError || err instanceof AnalysisInputError || err instanceof ExperimentError) {
        throw new CliError(err.message, 1);
      }
      throw err;
    } finally {
      bar.done();
      expBar.done();
      sig.dispose();
    }
  },
};
