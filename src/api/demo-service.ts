/**
 * The demo behind the API: what the embedded model and corpus are (demo.info), and the whole loop of
 * `routescope demo` started as a background job writing into the workbench's data folder.
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadUdhrDataset } from '../corpus/udhr.js';
import { checkDemoResources, DEFAULT_RESOURCES, type CheckedResources } from '../demo/resources.js';
import { runDemo } from '../demo/run-demo.js';
import { pivotCandidates, targetCandidates } from '../demo/settings.js';
import { summarizeModel } from '../engine/index.js';
import type { DemoInfo, DemoStartArgs, JobInfo } from './contract.js';
import type { JobRegistry } from './jobs.js';
import { languageView } from './run-analysis.js';
import { ApiArgError, checkDemoStart } from './validate.js';

export interface DemoPaths {
  /** Where runDemo writes its report files; the database is `db`. */
  out: string;
  db: string;
}

function modelTitle(dir: string): string {
  try {
    const heading = /^#\s+(.+)$/m.exec(readFileSync(join(dir, 'README.md'), 'utf8'));
    if (heading) return heading[1]!.trim();
  } catch {
    // no README: fall back to the folder name
  }
  return basename(dir);
}

export class DemoService {
  private checked: CheckedResources | null = null;

  constructor(private readonly paths: DemoPaths, private readonly jobs: JobRegistry) {}

  private resources(): CheckedResources {
    // Checked once per process; a failure is re-checked on the next call so a restored model is picked up.
    this.checked ??= checkDemoResources(DEFAULT_RESOURCES, true);
    return this.checked;
  }

  info(): DemoInfo {
    let res: CheckedResources;
    try {
      res = this.resources();
    } catch (err) {
      return { available: false, problem: (err as Error).message, model: null, languages: [], pivot: null, target: null, split: 'heldout', itemsPerLanguage: 0 };
    }
    const m = summarizeModel(res.modelDir);
    const langs = res.defaultLanguages;
    const resourceOf = (code: string) => res.table.find(code)?.resource;
    const pivot = pivotCandidates(langs, resourceOf)[0] ?? null;
    const dataset = loadUdhrDataset({ languages: langs, split: 'heldout' });
    return {
      available: true,
      problem: null,
      model: { name: modelTitle(res.modelDir), architecture: m.architecture, numLayers: m.numLayers, numMoeLayers: m.moeLayers.length, numExperts: m.numExperts, topK: m.topK, parameters: m.totalParameters },
      languages: langs.map(languageView),
      pivot,
      target: targetCandidates(langs, resourceOf, pivot)[0] ?? null,
      split: 'heldout',
      itemsPerLanguage: dataset.ids.length,
    };
  }

  start(args: DemoStartArgs | null | undefined): JobInfo {
    let res: CheckedResources;
    try {
      res = this.resources();
    } catch (err) {
      throw new ApiArgError(`demo.start: ${(err as Error).message}`);
    }
    const o = checkDemoStart(args, res.defaultLanguages);
    const busy = this.jobs.running('demo');
    if (busy) throw new ApiArgError(`demo.start: a demo job is already running (${busy.id}); cancel it or wait for it to finish`);
    return this.jobs.start('demo', async (ctx) => {
      const r = await runDemo({
        out: this.paths.out,
        db: this.paths.db,
        languages: o.languages,
        limit: o.limit,
        split: o.split,
        fresh: o.fresh,
        // The workbench has no experiment views yet (a separate issue); the CLI demo runs the experiment.
        noExperiment: true,
        signal: ctx.signal,
        log: (line) => ctx.progress({ message: line }),
        onProgress: (p) => {
          ctx.setRun(p.runId);
          const finished = p.sequencesDone >= p.sequencesTotal;
          ctx.progress({
            stage: finished ? 'analysing' : 'capturing',
            fraction: p.sequencesTotal > 0 ? p.sequencesDone / p.sequencesTotal : null,
            sequencesDone: p.sequencesDone,
            sequencesTotal: p.sequencesTotal,
            tokensDone: p.tokensDone,
            tokensPerSecond: p.tokensPerSecond,
            etaSeconds: p.etaSeconds,
            ...(finished ? { message: 'analysing the routing' } : {}),
          });
        },
      });
      return { status: r.status, runId: r.runId, capture: r.capture, files: r.files };
    });
  }
}
