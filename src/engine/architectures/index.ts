/** Maps config.architectures[0] to its adapter; anything else is refused with the list of what is supported. */
import { join } from 'node:path';
import { ModelFolderError } from '../errors.js';
import type { WeightStore } from '../safetensors.js';
import { ConfigReader, WeightLookup } from './common.js';
import { deepseekV2Spec } from './deepseek-v2.js';
import { gptOssSpec } from './gpt-oss.js';
import { graniteMoeSpec } from './granitemoe.js';
import { mixtralSpec } from './mixtral.js';
import { olmoeSpec } from './olmoe.js';
import { phimoeSpec } from './phimoe.js';
import { qwen2MoeSpec } from './qwen2-moe.js';
import { qwen3MoeSpec } from './qwen3-moe.js';
import type { DecoderSpec } from './types.js';

export type { DecoderSpec } from './types.js';

const ADAPTERS: Record<string, (c: ConfigReader, w: WeightLookup) => DecoderSpec> = {
  Qwen3MoeForCausalLM: qwen3MoeSpec,
  Qwen2MoeForCausalLM: qwen2MoeSpec,
  OlmoeForCausalLM: olmoeSpec,
  MixtralForCausalLM: mixtralSpec,
  GraniteMoeForCausalLM: graniteMoeSpec,
  PhimoeForCausalLM: phimoeSpec,
  // The class name in microsoft/Phi-3.5-MoE-instruct's config.json (its remote code); transformers maps it here.
  PhiMoEForCausalLM: phimoeSpec,
  GptOssForCausalLM: gptOssSpec,
  DeepseekV2ForCausalLM: deepseekV2Spec,
};

export const SUPPORTED_ARCHITECTURES = Object.keys(ADAPTERS);

export class UnsupportedArchitectureError extends ModelFolderError {
  constructor(architecture: string, file: string) {
    super(
      `${file}: architecture '${architecture}' is not supported; Routescope runs ${SUPPORTED_ARCHITECTURES.join(', ')}`,
      { file },
    );
    this.name = 'UnsupportedArchitectureError';
  }
}

/** Builds the normalised decoder description for a model folder's config and weights. */
export function decoderSpecFor(dir: string, architecture: string, config: Record<string, unknown>, weights: WeightStore): DecoderSpec {
  const file = join(dir, 'config.json');
  const adapter = ADAPTERS[architecture];
  if (!adapter) throw new UnsupportedArchitectureError(architecture, file);
  const reader = new ConfigReader(config, file);
  try {
    return adapter(reader, new WeightLookup(weights));
  } catch (err) {
    if (err instanceof ModelFolderError) throw err;
    throw new ModelFolderError((err as Error).message, { file, cause: err });
  }
}
