/**
 * The \boxed{} answer instruction of MGSM/PolyMath prompts: prompt.instruction boxed-english (PolyMath's English
 * sentence, what the shipped 2601.14050 recipes use) renders exactly as the old English suffix did; boxed-native
 * appends Routescope's own translation in the item's language; conflicting or uncovered settings are refused.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOXED_INSTRUCTIONS, loadDataset, type Dataset } from '../../src/datasets/index.js';
import { parseExperimentSpec, renderPrompt } from '../../src/eval/experiment/index.js';
import { tempDir } from '../store/helpers.js';

const POLYMATH_LANGUAGES = ['en', 'zh', 'ar', 'bn', 'de', 'es', 'fr', 'id', 'it', 'ja', 'ko', 'ms', 'pt', 'ru', 'sw', 'te', 'th', 'vi'];
const ENGLISH = 'Note: Please put the final answer in the $\\boxed{}$.';
let tmp: ReturnType<typeof tempDir>;
let dir: string;
let dataset: Dataset;

beforeAll(async () => {
  tmp = tempDir('routescope-instruction-');
  dir = join(tmp.dir, 'mgsm');
  mkdirSync(dir);
  for (const lang of ['en', 'sw', 'ja']) writeFileSync(join(dir, `mgsm_${lang}.tsv`), `${lang} question one?\t3\n`);
  dataset = await loadDataset('mgsm', dir, {});
});

afterAll(() => tmp?.cleanup());

const spec = (prompt: Record<string, unknown>, languages = ['en', 'sw', 'ja']) =>
  parseExperimentSpec({ name: 'i', model: tmp.dir, task: 'generate', dataset: { kind: 'mgsm', path: dir, languages }, prompt: { template: 'mgsm', ...prompt }, arms: [{ kind: 'baseline' }] });

const userText = (s: ReturnType<typeof spec>, lang: string) => {
  const r = renderPrompt(s, dataset, dataset.item(lang, dataset.ids[0]!), lang);
  if (r.kind !== 'chat') throw new Error('expected a chat prompt');
  return r.messages.at(-1)!.content;
};

describe('boxed answer instruction', () => {
  it('covers the 18 PolyMath languages, each with one $\\boxed{}$; English is PolyMath\'s sentence', () => {
    expect(Object.keys(BOXED_INSTRUCTIONS).sort()).toEqual([...POLYMATH_LANGUAGES].sort());
    for (const [lang, text] of Object.entries(BOXED_INSTRUCTIONS)) expect(text.split('$\\boxed{}$').length - 1, lang).toBe(1);
    expect(BOXED_INSTRUCTIONS.en).toBe(ENGLISH);
    expect(new Set(Object.values(BOXED_INSTRUCTIONS)).size).toBe(18);
  });

  it('boxed-english renders as the English suffix did; boxed-native appends the item language\'s sentence', () => {
    const english = spec({ instruction: 'boxed-english' });
    const suffix = spec({ suffix: ENGLISH });
    for (const lang of ['en', 'sw', 'ja']) {
      expect(userText(english, lang)).toBe(userText(suffix, lang));
      expect(userText(english, lang)).toBe(`${lang} question one?\n${ENGLISH}`);
    }
    const native = spec({ instruction: 'boxed-native' });
    expect(userText(native, 'sw')).toBe(`sw question one?\n${BOXED_INSTRUCTIONS.sw}`);
    expect(userText(native, 'ja')).toBe(`ja question one?\n${BOXED_INSTRUCTIONS.ja}`);
    expect(userText(native, 'en')).toBe(`en question one?\n${ENGLISH}`);
  });

  it('refuses an instruction together with a suffix, an unknown instruction, and boxed-native for a language it lacks', () => {
    expect(() => spec({ instruction: 'boxed-english', suffix: 'x' })).toThrow(/prompt\.instruction.*not both/);
    expect(() => spec({ instruction: 'boxed' })).toThrow(/prompt\.instruction.*must be one of boxed-english, boxed-native/);
    expect(() => spec({ instruction: 'boxed-native' }, ['en', 'yo'])).toThrow(/prompt\.instruction.*no instruction for yo/);
  });

  it('the shipped 2601.14050 MGSM and PolyMath recipes say they use the English instruction', () => {
    const recipes = resolve(import.meta.dirname, '../../resources/experiments');
    for (const f of ['2601.14050-polymath-steering.json', '2601.14050-mgsm-masking.json']) {
      const doc = JSON.parse(readFileSync(join(recipes, f), 'utf8')) as { prompt: Record<string, unknown>; description: string };
      expect(doc.prompt.instruction, f).toBe('boxed-english');
      expect(doc.prompt.suffix, f).toBeUndefined();
      expect(doc.description, f).toMatch(/boxed-english/);
    }
  });
});
