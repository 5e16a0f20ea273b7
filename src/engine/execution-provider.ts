/**
 * The one place that decides where the graph runs. CUDA is used when asked for, or in `auto` mode when
 * onnxruntime-node's CUDA provider library is installed next to its binding; if creating a CUDA session
 * fails (no driver, no cuDNN) the engine falls back to CPU and says why. Override with ROUTESCOPE_EP.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { EngineError } from './errors.js';

export type ExecutionProviderName = 'cpu' | 'cuda';
export type ExecutionProviderPreference = 'auto' | ExecutionProviderName;

export interface ExecutionProviderChoice {
  name: ExecutionProviderName;
  /** Human-readable reason, shown by `routescope inspect` and in logs. */
  reason: string;
}

function cudaProviderLibrary(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const pkgDir = dirname(require.resolve('onnxruntime-node/package.json'));
    const lib = join(pkgDir, 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so');
    return existsSync(lib) ? lib : null;
  } catch {
    return null;
  }
}

export function parsePreference(value: string | undefined, source: string): ExecutionProviderPreference {
  if (value === undefined || value === '') return 'auto';
  const v = value.toLowerCase();
  if (v === 'auto' || v === 'cpu' || v === 'cuda') return v;
  throw new EngineError(`${source} must be auto, cpu or cuda, got '${value}'`);
}

/** Which provider a session would use, without creating one. */
export function chooseExecutionProvider(preference?: ExecutionProviderPreference): ExecutionProviderChoice {
  const pref = preference ?? parsePreference(process.env.ROUTESCOPE_EP, 'ROUTESCOPE_EP');
  if (pref === 'cpu') return { name: 'cpu', reason: 'CPU requested' };
  const lib = cudaProviderLibrary();
  if (pref === 'cuda') return { name: 'cuda', reason: lib ? 'CUDA requested' : 'CUDA requested (provider library not found; session creation will fail)' };
  if (lib) return { name: 'cuda', reason: `CUDA provider found (${lib})` };
  return { name: 'cpu', reason: 'onnxruntime-node has no CUDA provider installed' };
}

export interface SessionSettings {
  /** Folder the graph's external-data locations are relative to (the model folder). */
  externalDataDir: string;
  intraOpThreads?: number;
  /**
   * Let kernels repack their weights at session creation (default off: prepacking copies every fp32 MatMul weight,
   * where without it weights stay file-backed pages). MatMulNBits needs it: unpacked, it dequantises its whole
   * weight on every run (int4: 40x slower, measured; docs/precision.md).
   */
  prepack?: boolean;
}

function optionsFor(ep: ExecutionProviderName, s: SessionSettings): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [ep],
    graphOptimizationLevel: 'all',
    ...(s.intraOpThreads !== undefined ? { intraOpNumThreads: s.intraOpThreads } : {}),
    extra: {
      session: {
        model_external_initializers_file_folder_path: s.externalDataDir,
        // Prepacking would copy every fp32 weight; without it weights stay file-backed pages.
        disable_prepacking: s.prepack ? '0' : '1',
      },
    },
  };
}

/**
 * Turns off onnxruntime's usage telemetry before its environment is created (the first session of the process).
 * Why: since 1.29 the Linux/macOS builds start Microsoft's 1DS telemetry client when that environment is created,
 * and on Linux it derives an app id by running a std::regex over /proc/self/cmdline. libstdc++'s regex matcher
 * recurses once per character (about 290 bytes of stack each), so a command line of ~29,000 characters (a long
 * --text, --plan or --name argument) overflows the 8 MB main-thread stack and the process dies with SIGSEGV and
 * no message, before any model is read. ORT_DISABLE_TELEMETRY=1 is onnxruntime's documented switch (docs/Privacy.md);
 * it is read when the environment is created, so setting it here, before the first create(), is enough. It is
 * forced, not defaulted: a research tool has no reason to report usage, and with it on, a long argument crashes.
 * The graph itself is not the problem: a 48-layer, 128-expert session is created and run with a 256 KB stack.
 */
export function disableOnnxruntimeTelemetry(): void {
  process.env.ORT_DISABLE_TELEMETRY = '1';
}

/** Creates the session on the chosen provider; a failed CUDA start in auto mode falls back to CPU. */
export async function createInferenceSession(
  model: Uint8Array,
  settings: SessionSettings,
  preference?: ExecutionProviderPreference,
): Promise<{ session: ort.InferenceSession; provider: ExecutionProviderChoice }> {
  const choice = chooseExecutionProvider(preference);
  disableOnnxruntimeTelemetry();
  try {
    const session = await ort.InferenceSession.create(model, optionsFor(choice.name, settings));
    return { session, provider: choice };
  } catch (err) {
    if (choice.name === 'cuda' && (preference ?? 'auto') === 'auto') {
      const session = await ort.InferenceSession.create(model, optionsFor('cpu', settings));
      return { session, provider: { name: 'cpu', reason: `CUDA session failed (${(err as Error).message.split('\n')[0]}); using CPU` } };
    }
    throw new EngineError(`could not create the ${choice.name.toUpperCase()} inference session: ${(err as Error).message}`, { cause: err });
  }
}
