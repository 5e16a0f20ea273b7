import { createReadStream, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseCommandArgs, requireString } from '../args.js';
import type { Command } from '../commands.js';
import { CliError } from '../errors.js';
import { SCORING_TASKS, createScorer, type ScoreOptions, type ScoringTask } from '../../eval/scoring/index.js';
import { ScoreSummary, parsePredictionLine, scoredLine } from '../../eval/scoring/predictions.js';

const USAGE = `routescope score --task mgsm|polymath|xquad|flores --in predictions.jsonl --out scored.jsonl
                 [--fallback last-number] [--lenient] [--xquad-empty fixed] [--consistency polymath]
Scores model outputs produced anywhere. Input: one JSON object a line with "id", "lang", "output" and "answer"
(a string or a number; XQuAD and FLORES also accept an array of strings). Output: the same lines plus
"extracted", "correct", "no_answer", "f1"/"chrf", "detected_lang", "consistent" and "rule".
Defaults are arXiv 2601.14050's rules (first \\boxed{}, PolyMath's math_equal, substring match for XQuAD with an
empty prediction counted correct, its language-consistency rule); every option is reported as its own rule.
Malformed lines are reported (line number and field) and skipped; the exit code is then 1. See docs/scoring.md.`;

export const scoreCommand: Command = {
  summary: 'score model outputs (MGSM, PolyMath, XQuAD, FLORES) from a JSON-lines file',
  async run(args) {
    const { values: v, positionals } = parseCommandArgs('score', args, {
      task: { type: 'string' }, in: { type: 'string' }, out: { type: 'string' }, fallback: { type: 'string' },
      lenient: { type: 'boolean' }, 'xquad-empty': { type: 'string' }, consistency: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    });
    if (v.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (positionals.length) throw new CliError(`score: unexpected argument '${positionals[0]}'`);
    const task = requireString(v.task, '--task') as ScoringTask;
    if (!SCORING_TASKS.includes(task)) throw new CliError(`--task must be one of ${SCORING_TASKS.join(', ')}, got '${task}'`);
    const input = requireString(v.in, '--in');
    const output = requireString(v.out, '--out');
    if (!existsSync(input)) throw new CliError(`--in ${input}: no such file`);
    const opts: ScoreOptions = {};
    if (v.fallback !== undefined) {
      if (v.fallback !== 'last-number' && v.fallback !== 'none') throw new CliError(`--fallback must be 'last-number' or 'none', got '${v.fallback}'`);
      opts.fallback = v.fallback;
    }
    if (v.lenient) opts.lenient = true;
    if (v['xquad-empty'] !== undefined) {
      if (v['xquad-empty'] !== 'fixed' && v['xquad-empty'] !== 'reference') throw new CliError(`--xquad-empty must be 'fixed' or 'reference', got '${v['xquad-empty']}'`);
      opts.xquadEmpty = v['xquad-empty'];
    }
    if (v.consistency !== undefined) {
      if (v.consistency !== 'reference' && v.consistency !== 'polymath') throw new CliError(`--consistency must be 'reference' or 'polymath', got '${v.consistency}'`);
      opts.consistency = v.consistency;
    }
    if ((task === 'xquad' || task === 'flores') && (opts.fallback === 'last-number' || opts.lenient)) {
      throw new CliError(`--fallback and --lenient apply to math answers (mgsm, polymath), not --task ${task}`);
    }
    if (task !== 'xquad' && opts.xquadEmpty) throw new CliError(`--xquad-empty applies to --task xquad only`);

    const scorer = await createScorer();
    const summary = new ScoreSummary(task);
    const lines: string[] = [];
    const errors: string[] = [];
    const seen = new Map<string, number>();
    let lineNo = 0;
    const rl = createInterface({ input: createReadStream(input, 'utf8'), crlfDelay: Infinity });
    for await (const raw of rl) {
      lineNo++;
      if (raw.trim() === '') continue;
      const parsed = parsePredictionLine(raw, lineNo, task);
      if (!parsed.ok) {
        errors.push(parsed.error);
        continue;
      }
      const key = `${parsed.line.lang}\u0000${String(parsed.line.id)}`;
      if (seen.has(key)) process.stderr.write(`warning: line ${lineNo}: id ${JSON.stringify(parsed.line.id)} in ${parsed.line.lang} also on line ${seen.get(key)}\n`);
      else seen.set(key, lineNo);
      const s = scorer.score(task, parsed.line, opts);
      summary.add(parsed.line, s);
      lines.push(JSON.stringify(scoredLine(parsed.line, s)));
    }
    for (const e of errors) process.stderr.write(`${input}: ${e}\n`);
    if (lines.length === 0) throw new CliError(`${input}: no scorable lines${errors.length ? ` (${errors.length} malformed)` : ''}`, errors.length ? 1 : 2);
    // Written whole, then renamed: an interrupted run never leaves a half-written file under the output name.
    const tmp = `${output}.partial`;
    try {
      writeFileSync(tmp, lines.join('\n') + '\n');
      renameSync(tmp, output);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw new CliError(`--out ${output}: cannot write (${(err as Error).message})`);
    }
    process.stderr.write(summary.format());
    process.stderr.write(`wrote ${lines.length} scored lines to ${output}${errors.length ? `; ${errors.length} malformed line(s) skipped` : ''}\n`);
    return errors.length ? 1 : 0;
  },
};
