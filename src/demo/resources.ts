/**
 * The embedded files the demo needs (model, language table, demo language list), located relative to this source
 * tree, and checked up front so a missing or damaged file is reported with what it is and how to get it back,
 * rather than as an engine or JSON error half-way through.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_LANGUAGES_PATH, loadDemoLanguages } from '../corpus/demo-languages.js';
import { LANGUAGE_TABLE_PATH, readLanguageTable, type LanguageTable } from '../languages/index.js';
import { modelFingerprint } from '../store/fingerprint.js';
import { appPath } from '../app-root.js';

export const RESOURCES_DIR = appPath('resources');
export const DEMO_MODEL_DIR = join(RESOURCES_DIR, 'demo-model');

const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];

export const MODEL_REGENERATE_HINT =
  'Restore it with `git checkout -- resources/demo-model`, or retrain it as tools/train-demo-model/README.md describes ' +
  '(`npx tsx tools/export-udhr-corpus.ts --out /tmp/routescope-udhr && /usr/bin/python3 tools/train-demo-model/train.py --corpus /tmp/routescope-udhr --out resources/demo-model`).';

export class DemoResourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DemoResourceError';
  }
}

export interface DemoResourcePaths {
  modelDir: string;
  languageTable: string;
  demoLanguages: string;
}

export const DEFAULT_RESOURCES: DemoResourcePaths = {
  modelDir: DEMO_MODEL_DIR,
  languageTable: LANGUAGE_TABLE_PATH,
  demoLanguages: DEMO_LANGUAGES_PATH,
};

export interface CheckedResources {
  modelDir: string;
  modelFingerprint: string;
  table: LanguageTable;
  /** The default language list (resources/corpus/demo-languages.json). */
  defaultLanguages: string[];
}

/** Checks every file the demo reads; `isEmbeddedModel` selects the regenerate hint for the model folder. */
export function checkDemoResources(paths: DemoResourcePaths, isEmbeddedModel = paths.modelDir === DEMO_MODEL_DIR): CheckedResources {
  const modelHint = isEmbeddedModel ? MODEL_REGENERATE_HINT : 'Check the --model folder.';
  const what = isEmbeddedModel ? 'The embedded demo model' : 'The model folder';
  if (!existsSync(paths.modelDir) || !statSync(paths.modelDir).isDirectory()) {
    throw new DemoResourceError(`${what} ${paths.modelDir} is missing. ${modelHint}`);
  }
  const missing = MODEL_FILES.filter((f) => !existsSync(join(paths.modelDir, f)));
  if (missing.length) throw new DemoResourceError(`${what} ${paths.modelDir} is incomplete: ${missing.join(', ')} missing. ${modelHint}`);
  let fingerprint: string;
  try {
    fingerprint = modelFingerprint(paths.modelDir);
  } catch (err) {
    throw new DemoResourceError(`${what} ${paths.modelDir} is damaged: ${(err as Error).message}. ${modelHint}`);
  }
  // Both readers already name the file and say how to restore or regenerate it.
  let table: LanguageTable;
  let defaultLanguages: string[];
  try {
    table = readLanguageTable(paths.languageTable);
    defaultLanguages = loadDemoLanguages(paths.demoLanguages);
  } catch (err) {
    throw new DemoResourceError((err as Error).message);
  }
  return { modelDir: paths.modelDir, modelFingerprint: fingerprint, table, defaultLanguages };
}
