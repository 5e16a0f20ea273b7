/**
 * Compares offline language-identification packages on our own multilingual text, for the choice recorded in
 * docs/scoring.md. Text: the UDHR held-out articles (26-30) of the 39 demo languages plus the PolyMath languages
 * (full article, and its first 60 characters), and the first 40 PolyMath "low" questions per language from
 * ../shared/data/polymath when present (read at run time, never committed).
 * fastText (fasttext.wasm.js) is Routescope's dependency; the other candidates are not: install them in a scratch folder and point at it:
 *   mkdir /tmp/lid && cd /tmp/lid && npm init -y && npm install franc-all franc-min eld tinyld cld3-asm
 *   LID_CANDIDATES=/tmp/lid/node_modules npx tsx bench/langid-candidates.ts
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { listUdhrLanguages, loadUdhrCorpus, resolveUdhrLanguage } from '../src/corpus/udhr.js';
import { LanguageIdentifier } from '../src/eval/scoring/language-id.js';
import { sameLanguage } from '../src/eval/scoring/language-codes.js';
import { loadDemoLanguages } from '../src/corpus/demo-languages.js';
import { findLanguage } from '../src/languages/index.js';
import { POLYMATH_CODES } from '../src/languages/dataset-codes.js';

type Detect = (text: string) => string | null;
const dirEnv = process.env.LID_CANDIDATES;
if (!dirEnv || !existsSync(dirEnv)) throw new Error('set LID_CANDIDATES to a node_modules folder holding the candidates (see the header)');
const dir: string = dirEnv;
const req = createRequire(join(dir, 'x.js'));
const esm = async (spec: string) => import(pathToFileURL(req.resolve(spec)).href) as Promise<Record<string, unknown>>;

async function candidates(): Promise<Record<string, Detect>> {
  const out: Record<string, Detect> = {};
  const lid = await LanguageIdentifier.load();
  out['fasttext.wasm.js (lid.176.ftz)'] = (t) => lid.detect(t).lang;
  for (const name of ['franc-all', 'franc-min']) {
    try {
      const f = (await esm(name)) as { franc: (t: string, o?: object) => string };
      out[name] = (t) => { const c = f.franc(t, { minLength: 1 }); return c === 'und' ? null : c; };
    } catch (e) { console.error(name, (e as Error).message); }
  }
  try {
    // eld's exports map has only an "import" condition, which require.resolve cannot see: load the file itself.
    const e = (await import(pathToFileURL(join(dir, 'eld', 'src', 'entries', 'static.large.js')).href)) as { eld: { detect(t: string): { language: string } } };
    out['eld (large)'] = (t) => e.eld.detect(t).language || null;
  } catch (e) { console.error('eld:', (e as Error).message); }
  try {
    const tl = req('tinyld/heavy') as { detect: (t: string) => string };
    out['tinyld (heavy)'] = (t) => tl.detect(t) || null;
  } catch (e) { console.error('tinyld:', (e as Error).message); }
  try {
    const c = req('cld3-asm') as { loadModule: () => Promise<{ create(a: number, b: number): { findLanguage(t: string): { language: string } } }> };
    const id = (await c.loadModule()).create(0, 1000);
    out['cld3-asm'] = (t) => { const l = id.findLanguage(t).language; return l === 'und' ? null : l; };
  } catch (e) { console.error('cld3-asm:', (e as Error).message); }
  return out;
}

// Detectors other than fastText answer in ISO 639-1 where one exists; the language table lacks some of those
// codes (bg), so the UDHR package's BCP 47 tags supply the ISO 639-3 code for them.
const iso1to3 = new Map(listUdhrLanguages().filter((l) => /^[a-z]{2}$/.test(l.bcp47)).map((l) => [l.bcp47, l.iso3]));
function same(detected: string | null, target: string): boolean {
  if (!detected) return false;
  const code = detected.length === 2 && !findLanguage(detected) && iso1to3.has(detected) ? iso1to3.get(detected)! : detected;
  return sameLanguage(code, target);
}

interface Sample { lang: string; kind: string; text: string }
const samples: Sample[] = [];
const inUdhr = (code: string) => { try { resolveUdhrLanguage(code); return true; } catch { return false; } };
// zsm (Standard Malay) has no complete UDHR translation; the demo's zlm (Malay macrolanguage row) stands in.
const udhrLangs = [...new Set([...loadDemoLanguages(), ...POLYMATH_CODES.map((c) => findLanguage(c)!.iso3)])].filter(inUdhr);
const corpus = loadUdhrCorpus({ languages: udhrLangs, split: 'heldout' });
for (const l of corpus.languages) for (const it of corpus.items) {
  const text = it.texts[l.lang]!;
  samples.push({ lang: l.iso3, kind: 'udhr-article', text });
  samples.push({ lang: l.iso3, kind: 'udhr-60-chars', text: Array.from(text).slice(0, 60).join('') });
}
const pm = join(process.cwd(), '..', 'shared', 'data', 'polymath');
if (existsSync(pm)) {
  for (const code of POLYMATH_CODES) {
    const lines = readFileSync(join(pm, code, 'low.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, 40);
    for (const line of lines) samples.push({ lang: code, kind: 'polymath-question', text: (JSON.parse(line) as { question: string }).question });
  }
} else console.error(`no ${pm}: PolyMath questions skipped`);

const dets = await candidates();
const kinds = [...new Set(samples.map((s) => s.kind))];
console.log(`| detector | ${kinds.join(' | ')} | ms/sample |`);
console.log(`|---|${kinds.map(() => '---').join('|')}|---|`);
for (const [name, detect] of Object.entries(dets)) {
  const cells: string[] = [];
  const t0 = performance.now();
  const missed = new Map<string, number>();
  for (const kind of kinds) {
    const ss = samples.filter((s) => s.kind === kind);
    let ok = 0;
    for (const s of ss) {
      if (same(detect(s.text), s.lang)) ok++;
      else { const k = `${s.lang}->${detect(s.text)}`; missed.set(k, (missed.get(k) ?? 0) + 1); }
    }
    cells.push(`${((100 * ok) / ss.length).toFixed(1)}% (${ss.length})`);
  }
  const ms = (performance.now() - t0) / samples.length;
  console.log(`| ${name} | ${cells.join(' | ')} | ${ms.toFixed(2)} |`);
  console.error(`${name} misses: ${[...missed].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([l, n]) => `${l}:${n}`).join(' ')}`);
}

// The consistency rule (src/eval/scoring/language-id.ts) on PolyMath questions: clean text in the item's language
// (should be consistent), the question followed by its English original (mixed: should not be), and the first
// sentence in the language followed by the English question (mostly English: should not be).
if (existsSync(pm)) {
  const lidModel = await LanguageIdentifier.load();
  const q = (l: string) => samples.filter((s) => s.kind === 'polymath-question' && s.lang === l).map((s) => s.text);
  const en = q('en');
  console.log('\n| lang | clean: consistent | mixed with English: flagged | mostly English: flagged |');
  console.log('|---|---|---|---|');
  for (const l of POLYMATH_CODES) {
    if (l === 'en') continue;
    const qs = q(l);
    const pure = qs.filter((t) => lidModel.consistent(t, l)).length;
    const mixed = qs.filter((t, i) => !lidModel.consistent(`${t} ${en[i]}`, l)).length;
    const mostly = qs.filter((t, i) => !lidModel.consistent(`${t.split(/[.\u3002\u0964]/u)[0]}. ${en[i]}`, l)).length;
    console.log(`| ${l} | ${pure}/${qs.length} | ${mixed}/${qs.length} | ${mostly}/${qs.length} |`);
  }
}
