import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EngineError } from '../engine/errors.js';
import { parsePrecision, type PrecisionPreference } from '../engine/precision.js';
import { CliError } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs with errors turned into CliErrors that name the command. */
export function parseCommandArgs<O extends Options>(command: string, args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new CliError(`${command}: ${(err as Error).message}`);
  }
}

export function requireString(value: unknown, flag: string): string {
  if (typeof value !== 'string' || value === '') throw new CliError(`missing required option ${flag}`);
  return value;
}

/** Parses "a-b" or "a" into an inclusive integer range. */
export function parseRange(text: string, flag: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text.trim());
  if (!m) throw new CliError(`${flag} must look like 10-39 or 7, got '${text}'`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (b < a) throw new CliError(`${flag} range ${text} is empty (end before start)`);
  return [a, b];
}

/** A numeric option: the fallback when absent (required when there is none), else a finite number. */
export function parseNumber(text: string | undefined, flag: string, fallback?: number, integer = false): number {
  if (text === undefined) {
    if (fallback === undefined) throw new CliError(`missing required option ${flag}`);
    return fallback;
  }
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v)) throw new CliError(`${flag} must be a number, got '${text}'`);
  if (integer && !Number.isInteger(v)) throw new CliError(`${flag} must be an integer, got '${text}'`);
  return v;
}

/** An optional positive whole-number option (undefined when absent). */
export function positiveInt(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim()) || Number(text) <= 0) throw new CliError(`${flag} must be a positive whole number, got '${text}'`);
  return Number(text);
}

/** A comma-separated --langs list: no empty list, no language twice. */
export function parseLangs(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const langs = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (langs.length === 0) throw new CliError('--langs is empty');
  if (new Set(langs).size !== langs.length) throw new CliError(`--langs lists a language twice: ${text}`);
  return langs;
}

/** --precision auto|fp32|fp16|int8|int4 (absent: the engine's default, ROUTESCOPE_PRECISION or auto). */
export function parsePrecisionFlag(text: string | undefined): PrecisionPreference | undefined {
  if (text === undefined) return undefined;
  try {
    return parsePrecision(text, '--precision');
  } catch (err) {
    if (err instanceof EngineError) throw new CliError(err.message);
    throw err;
  }
}
