/**
 * Opening a local Hugging Face model folder read-only: config.json, the safetensors checkpoint
 * (single or sharded), generation_config.json when present, and whether a tokenizer is there.
 * Architecture-specific interpretation of the config lives elsewhere (the architecture adapters).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ModelFolderError } from './errors.js';
import { plannedMxfp4View, type Mxfp4Checkpoint } from './mxfp4.js';
import { WeightStore } from './safetensors.js';

export interface ModelFolder {
  /** Absolute path of the folder. */
  dir: string;
  /** config.json as written, not normalised. */
  config: Record<string, unknown>;
  /** config.architectures[0], e.g. "Qwen3MoeForCausalLM". */
  architecture: string;
  /**
   * The tensors as the adapters read them. MXFP4 `*_blocks` / `*_scales` pairs appear as the BF16 tensor they
   * dequantise to (shape and dtype only, until a session dequantises them: mxfp4.ts).
   */
  weights: WeightStore;
  /** Present when the checkpoint stores tensors in MXFP4 (GPT-OSS as released). */
  mxfp4?: Mxfp4Checkpoint;
  generationConfig?: Record<string, unknown>;
  hasTokenizer: boolean;
}

/** Reads a JSON object file; `what` says what the file is for in error messages. */
export function readJsonObject(file: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ModelFolderError(
      code === 'ENOENT' ? `${file}: ${what} not found` : `${file}: cannot read ${what} (${code ?? String(err)})`,
      { file, cause: err },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ModelFolderError(`${file}: ${what} is not valid JSON (${(err as Error).message})`, { file, cause: err });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ModelFolderError(`${file}: ${what} must be a JSON object`, { file });
  }
  return parsed as Record<string, unknown>;
}

export function readModelFolder(dir: string): ModelFolder {
  const folder = resolve(dir);
  let isDir = false;
  try {
    isDir = statSync(folder).isDirectory();
  } catch {
    /* reported below */
  }
  if (!isDir) throw new ModelFolderError(`${folder}: model folder not found (or not a folder)`, { file: folder });

  const configFile = join(folder, 'config.json');
  if (!existsSync(configFile)) {
    throw new ModelFolderError(`${configFile}: config.json not found; is ${folder} a Hugging Face model folder?`, { file: configFile });
  }
  const config = readJsonObject(configFile, 'model config');
  const archs = config.architectures;
  if (!Array.isArray(archs) || archs.length === 0 || typeof archs[0] !== 'string' || archs[0] === '') {
    throw new ModelFolderError(`${configFile}: "architectures" must list the model class, e.g. ["Qwen3MoeForCausalLM"]`, { file: configFile });
  }

  const stored = WeightStore.fromFolder(folder);
  const planned = plannedMxfp4View(stored);

  const genFile = join(folder, 'generation_config.json');
  const generationConfig = existsSync(genFile) ? readJsonObject(genFile, 'generation config') : undefined;

  return {
    dir: folder,
    config,
    architecture: archs[0],
    weights: planned?.weights ?? stored,
    ...(planned ? { mxfp4: planned.mxfp4 } : {}),
    generationConfig,
    hasTokenizer: existsSync(join(folder, 'tokenizer.json')),
  };
}
