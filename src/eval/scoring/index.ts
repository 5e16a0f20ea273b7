/**
 * Scoring of model outputs: answer extraction and equivalence (MGSM, PolyMath as arXiv 2601.14050's code scores
 * them), XQuAD match and token F1, chrF, and offline language identification for language consistency.
 * CONTRACT (shared by the experiment runner and `routescope score`); the implementation replaces the bodies.
 */

export type ScoringTask = 'mgsm' | 'polymath' | 'xquad' | 'flores';

export interface ScoreOptions {
  /** 'none' (reference: no \boxed{} is "no answer") or 'last-number' (fallback, reported as its own rule). */
  fallback?: 'none' | 'last-number';
  /** Strip units and currency signs inside the box before comparing (not the reference's rule). */
  lenient?: boolean;
  /** XQuAD: 'reference' counts an empty prediction as correct (the reference's substring rule); 'fixed' counts it wrong. */
  xquadEmpty?: 'reference' | 'fixed';
}

export interface ScoreInput {
  output: string;
  /** Gold: a string or number (math), the answer span(s) (XQuAD), the reference translation (FLORES). */
  answer: string | number | string[];
  /** The item's language as the dataset names it (e.g. "sw", "swh", "swh_Latn"). */
  lang: string;
}

export interface ItemScore {
  /** The extracted answer; null when nothing could be extracted ("no answer"). */
  extracted: string | null;
  /** Binary outcome (math, XQuAD); for FLORES whether chrF > 0 is not meaningful, so false. */
  correct: boolean;
  /** True when the extractor found no answer (counted wrong and reported separately). */
  noAnswer: boolean;
  /** The number the statistics use: 0/1 for binary tasks, token F1 (XQuAD continuous) or chrF (FLORES) otherwise. */
  score: number;
  f1?: number;
  chrf?: number;
  /** Detected language of the output, as the dataset's code family when known (null when undetectable). */
  detectedLang: string | null;
  /** Whether the output is in the item's language (the reference's consistency rule); null when not applicable. */
  consistent: boolean | null;
  /** Which rule produced `correct`, e.g. "boxed+math_equal", "last-number", "xquad-substring(reference)". */
  rule: string;
}

export interface Scorer {
  score(task: ScoringTask, input: ScoreInput, opts?: ScoreOptions): ItemScore;
  detectLanguage(text: string): { lang: string | null; confidence: number };
}

/** Loads what scoring needs (e.g. the language identification model) once. */
export async function createScorer(): Promise<Scorer> {
  throw new Error('scoring is not implemented yet');
}
