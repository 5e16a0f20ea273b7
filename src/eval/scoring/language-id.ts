/**
 * Offline language identification with fastText's lid.176 model (Joulin et al. 2016; 176 languages, the
 * compressed .ftz, about 0.9 MB) through the fasttext.wasm.js package (MIT; the model is CC BY-SA 3.0).
 * Chosen over franc, eld, tinyld and cld3-asm after measuring them on our own text: see docs/scoring.md.
 * Loading is asynchronous (WebAssembly); once loaded, every call is synchronous.
 *
 * Consistency rules (a model output is "in the prompt's language"):
 *   - 'reference' (arXiv 2601.14050): langdetect's detect_langs must list exactly one language (it lists every
 *     language with probability > 0.1) and it must be the item's. fastText's whole-text probabilities do not
 *     behave like langdetect's (measured in docs/scoring.md: a Bengali sentence followed by a paragraph of English
 *     is still "bn" at p > 0.9, while clean Swahili often spreads over several labels), so the rule is
 *     approximated in two parts: the whole text's most likely language must be the item's, and sentences
 *     confidently detected (p >= 0.7, at least 20 letters) as another language must make up less than 10% of the
 *     letters (langdetect's 0.1). Empty or letterless text (where langdetect raises) is inconsistent.
 *   - 'polymath' (QwenLM/PolyMath eval/run_eval.py): delete $$..$$, \(..\), \[..\] and then $..$; 15 characters
 *     or fewer count as consistent; else the rule above on what is left.
 */
import { getLIDModel } from 'fasttext.wasm.js';
import { languageKey, sameLanguage } from './language-codes.js';

export type ConsistencyRule = 'reference' | 'polymath';

/** langdetect's PROB_THRESHOLD: the probability from which it lists a language (reported in Detection.listed). */
export const LISTED_PROBABILITY = 0.1;

interface FastTextVector {
  size(): number;
  get(i: number): [number, string];
}
interface FastTextModel {
  predict(text: string, k: number, threshold: number): FastTextVector;
}
type LabelNormaliser = (label: string) => { alpha3: string } | undefined;

export interface Detection {
  /** fastText label mapped to an ISO 639-3 code where possible (e.g. "swh", "cmn"); null for no text. */
  lang: string | null;
  confidence: number;
  /** Every language with probability >= 0.1, most likely first. */
  listed: { lang: string; p: number }[];
}

let shared: Promise<LanguageIdentifier> | undefined;

export class LanguageIdentifier {
  private constructor(private readonly model: FastTextModel, private readonly normalise: LabelNormaliser) {}

  /** The model, loaded once per process and shared by every scorer (a failed load is retried next time). */
  static load(): Promise<LanguageIdentifier> {
    shared ??= LanguageIdentifier.loadNew().catch((err: unknown) => {
      shared = undefined;
      throw new Error(`language identification model (fasttext.wasm.js, lid.176.ftz) failed to load: ${(err as Error).message}`);
    });
    return shared;
  }

  private static async loadNew(): Promise<LanguageIdentifier> {
    const lid = await getLIDModel();
    const model = (await lid.load()) as unknown as FastTextModel;
    const cls = lid.constructor as unknown as { normalizeIdentifyLang?: LabelNormaliser };
    return new LanguageIdentifier(model, (l) => cls.normalizeIdentifyLang?.(l));
  }

  private code(label: string): string {
    const wp = label.replace('__label__', '');
    return languageKey(this.normalise(wp)?.alpha3 ?? wp);
  }

  detect(text: string): Detection {
    // fastText reads one line; langdetect ignores line structure too.
    const line = text.replace(/\s+/gu, ' ').trim();
    if (!/\p{L}/u.test(line)) return { lang: null, confidence: 0, listed: [] };
    const v = this.model.predict(line, 5, 0);
    const all: { lang: string; p: number }[] = [];
    for (let i = 0; i < v.size(); i++) {
      const [p, label] = v.get(i);
      all.push({ lang: this.code(label), p });
    }
    if (all.length === 0) return { lang: null, confidence: 0, listed: [] };
    return { lang: all[0]!.lang, confidence: all[0]!.p, listed: all.filter((x) => x.p >= LISTED_PROBABILITY) };
  }

  /** Whether `text` is in `lang` under the given rule (see the module comment). */
  consistent(text: string, lang: string, rule: ConsistencyRule = 'reference'): boolean {
    let t = text;
    if (rule === 'polymath') {
      t = t.replace(/\$\$[\s\S]*?\$\$|\\\([\s\S]*?\\\)|\\\[[\s\S]*?\\\]/g, '').replace(/\$[^$]*\$/g, '');
      if (Array.from(t).length <= 15) return true;
    }
    const whole = this.detect(t);
    if (whole.lang === null || !sameLanguage(whole.lang, lang)) return false;
    let other = 0;
    let total = 0;
    for (const sentence of sentences(t)) {
      const letters = countLetters(sentence);
      total += letters;
      if (letters < SEGMENT_MIN_LETTERS) continue;
      const d = this.detect(sentence);
      if (d.lang !== null && d.confidence >= SEGMENT_MIN_CONFIDENCE && !sameLanguage(d.lang, lang)) other += letters;
    }
    return total > 0 && other / total < OTHER_LANGUAGE_SHARE;
  }
}

/** A sentence counts towards mixing only when it is long and confidently detected. */
export const SEGMENT_MIN_LETTERS = 20;
export const SEGMENT_MIN_CONFIDENCE = 0.7;
/** Share of letters in another language from which an output is mixed (langdetect's 0.1 listing threshold). */
export const OTHER_LANGUAGE_SHARE = 0.1;

function countLetters(s: string): number {
  return (s.match(/\p{L}/gu) ?? []).length;
}

/** Sentences and lines, split after . ! ? and their CJK, Devanagari and Arabic forms. */
export function sentences(text: string): string[] {
  return text.split(/(?<=[.!?\u3002\uff01\uff1f\u0964\u061f\n])\s*/u).filter((s) => /\p{L}/u.test(s));
}
