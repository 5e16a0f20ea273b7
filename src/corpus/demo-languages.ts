/** Reads resources/corpus/demo-languages.json, the default language list of the demo and the export tool. */
import { readFileSync } from 'node:fs';
import { UdhrCorpusError } from './udhr.js';
import { appPath } from '../app-root.js';

export const DEMO_LANGUAGES_PATH = appPath('resources', 'corpus', 'demo-languages.json');

export function loadDemoLanguages(path: string = DEMO_LANGUAGES_PATH): string[] {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UdhrCorpusError(
      `Cannot read the demo language list ${path}: ${(err as Error).message}. It is a committed file; restore it with \`git checkout -- resources/corpus/demo-languages.json\`.`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new UdhrCorpusError(`Demo language list ${path} is not valid JSON: ${(err as Error).message}.`);
  }
  const langs = (parsed as { languages?: unknown } | null)?.languages;
  if (!Array.isArray(langs) || langs.length === 0 || !langs.every((l) => typeof l === 'string' && l.trim() !== '')) {
    throw new UdhrCorpusError(`Demo language list ${path} must be an object with a non-empty "languages" array of language codes.`);
  }
  return langs as string[];
}
