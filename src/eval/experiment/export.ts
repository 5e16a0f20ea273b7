/**
 * Per-item export: one JSON line per (arm, item, sample), shaped so lm-evaluation-harness users can read it
 * (`doc_id`, `target`, `resps`, `filtered_resps` and the metric under its own name), plus everything the store keeps.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { experimentResults, getExperiment, type ExperimentResult, type Store } from '../../store/index.js';

/** The metric name the `score` column holds for a task. */
export function metricName(task: string): string {
  return ({ nll: 'nll', choice: 'acc', generate: 'exact_match', translate: 'chrf' } as Record<string, string>)[task] ?? 'score';
}

export function exportLine(experimentId: number, task: string, r: ExperimentResult): Record<string, unknown> {
  const target = (r.extra?.answer ?? r.extra?.gold ?? null) as unknown;
  return {
    doc_id: r.itemIndex,
    experiment: experimentId,
    arm: r.arm,
    language: r.language,
    item_id: r.itemId,
    sample: r.sample,
    seed: r.seed,
    doc: { id: r.itemId, language: r.language },
    target,
    arguments: [r.prompt],
    resps: r.output === null ? [] : [[r.output]],
    filtered_resps: r.output === null ? [] : [r.extracted],
    [metricName(task)]: r.score,
    score: r.score,
    correct: r.correct,
    no_answer: r.noAnswer,
    extracted: r.extracted,
    detected_lang: r.detectedLang,
    consistent: r.consistent,
    loglik: r.loglik,
    num_tokens: r.numTokens,
    finish_reason: r.finishReason,
    routing_share: r.routing,
    extra: r.extra,
  };
}

/** Writes the experiment's results as JSON lines; returns the number of lines. */
export async function exportExperiment(store: Store, id: number, file: string): Promise<number> {
  const exp = getExperiment(store, id);
  const rows = experimentResults(store, id);
  const out = createWriteStream(file, { encoding: 'utf8' });
  for (const r of rows) {
    if (!out.write(JSON.stringify(exportLine(id, exp.task, r)) + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return rows.length;
}
