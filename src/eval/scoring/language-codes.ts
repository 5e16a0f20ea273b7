/**
 * One comparison key per language, so that a detector's code and a dataset's code for the same language meet:
 * "zh", "zh-cn", "zho", "cmn" and "zho_Hans" all become "cmn"; "sw", "swa", "swh" become "swh". The project's
 * language table (src/languages) does most of it; this adds the codes detectors use that datasets do not
 * (legacy ISO 639-1 codes, ISO 639-3 macrolanguages, langdetect's "zh-cn").
 */
import { findLanguage, normaliseCode, type LanguageInfo } from '../../languages/index.js';

/** Legacy or detector-specific codes and their current ISO codes. */
const LEGACY: Record<string, string> = { iw: 'he', in: 'id', ji: 'yi', mo: 'ro', fil: 'tgl', no: 'nob', nor: 'nob', jw: 'jv' };

/**
 * ISO 639-3 macrolanguages (and close individual codes) mapped to the individual language the multilingual
 * benchmarks use (FLORES-200's choice), so "Malay" detected for a "ms" (zsm) item counts as the same language.
 */
const MACRO: Record<string, string> = {
  zho: 'cmn', ara: 'arb', swa: 'swh', msa: 'zsm', zlm: 'zsm', fas: 'pes', est: 'ekk', lav: 'lvs', uzb: 'uzn', nep: 'npi',
  sqi: 'als', mon: 'khk', ori: 'ory', aze: 'azj', yid: 'ydd', pus: 'pbt', orm: 'gaz', mlg: 'plt', kur: 'kmr', que: 'quy',
  kok: 'gom', grn: 'gug', lah: 'pnb', zza: 'diq', kau: 'knc', ful: 'fuv', aka: 'twi',
};

function row(code: string): LanguageInfo | undefined {
  return findLanguage(code) ?? (/_[a-z]{4}$/i.test(code) ? findLanguage(code.slice(0, -5)) : undefined);
}

/** The comparison key (an ISO 639-3 code where known, else the normalised code itself). */
export function languageKey(code: string): string {
  let c = normaliseCode(code);
  if (/^zh_(cn|tw|hk|sg|hans|hant)$/.test(c)) c = 'zh';
  c = LEGACY[c] ?? c;
  const r = row(c);
  const iso3 = r?.iso3 ?? (/^[a-z]{3}_[a-z]{4}$/.test(c) ? c.slice(0, 3) : c);
  return MACRO[iso3] ?? iso3;
}

export function sameLanguage(a: string, b: string): boolean {
  return languageKey(a) === languageKey(b);
}

/**
 * A detected language written the way the item's dataset writes codes: the item's own code when they are the
 * same language; else ISO 639-1 for two-letter datasets (MGSM, PolyMath, XQuAD), code_Script for FLORES-style
 * datasets, ISO 639-3 otherwise.
 */
export function formatLike(detected: string, itemLang: string): string {
  if (sameLanguage(detected, itemLang)) return itemLang;
  const key = languageKey(detected);
  const r = findLanguage(key);
  if (/^[a-z]{2}$/i.test(itemLang)) return r?.iso1 ?? key;
  if (/^[a-z]{3}_[a-z]{4}$/i.test(itemLang)) return r?.aliases.find((a) => /^[a-z]{3}_[A-Z][a-z]{3}$/.test(a)) ?? (r ? `${key}_${r.scripts[0]}` : key);
  return key;
}
