import { summarizeModel } from '../../engine/index.js';
import { EXPECTED_AGREEMENT, gib, sizeText } from '../../engine/precision.js';
import { parseCommandArgs, positiveInt } from '../args.js';
import type { Command } from '../commands.js';
import { CliError } from '../errors.js';

const USAGE = `routescope inspect <modelDir> [--json] [--context N]
Shows the architecture, layers, MoE layers, experts, top-k, parameter counts (total and active per token),
weight dtypes, what is special about the architecture (norms, biases, rope scaling, routing rule, shared
experts), the execution provider and the expert kernel that would run the model, and per precision the memory a
session needs (weights, KV cache at N tokens, default 4096), whether it fits this machine, the routing agreement
with fp32 measured for it (docs/precision.md) and what --precision auto would pick. Reads only config.json and
the safetensors headers.`;

function human(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return String(n);
}

export const inspectCommand: Command = {
  summary: 'describe a local Hugging Face MoE model folder',
  async run(args) {
    const { values, positionals } = parseCommandArgs('inspect', args, { json: { type: 'boolean' }, context: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
    if (values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (positionals.length !== 1) throw new CliError(`inspect takes one model folder\n${USAGE}`);
    const s = summarizeModel(positionals[0]!, { context: positiveInt(values.context, '--context') });
    if (values.json) {
      process.stdout.write(JSON.stringify(s, null, 2) + '\n');
      return 0;
    }
    const lines = [
      `model folder      ${s.dir}`,
      `architecture      ${s.architecture}`,
      `decoder layers    ${s.numLayers}`,
      `MoE layers        ${s.moeLayers.length} (${s.moeLayers.join(', ')})`,
      `experts           ${s.numExperts} per MoE layer, top-${s.topK}`,
      `hidden / vocab    ${s.hiddenSize} / ${s.vocabSize}`,
      `parameters        ${human(s.totalParameters)} total, ${human(s.activeParameters)} active per token`,
      `weights           ${s.dtypes.join(', ')}, ${(s.weightBytes / 2 ** 20).toFixed(1)} MiB on disk`,
      ...s.features.map((f, i) => `${i === 0 ? 'special          ' : '                 '} ${f}`),
      `execution         ${s.executionProvider.name.toUpperCase()} (${s.executionProvider.reason})`,
      `expert kernel     ${s.moeKernel.name} (${s.moeKernel.reason})`,
      ...(s.int4Kernel ? [`int4 experts      ${s.int4Kernel.name}${s.int4Kernel.expertAccuracy ? `, accuracy_level ${s.int4Kernel.expertAccuracy}` : ''} (${s.int4Kernel.reason})`] : []),
      `memory            ${gib(s.memory.machine.availableBytes)} available of ${gib(s.memory.machine.totalBytes)}; plans for ${s.memory.context} tokens of context:`,
      `  precision  experts     dense+embed KV cache    runtime     loading     peak        B/param  fits   top-k agreement with fp32`,
      ...s.memory.plans.map((p) => {
        const fit = !p.implemented ? 'n/a' : p.fit === 'fits' ? 'yes' : p.fit === 'tight' ? 'tight' : 'no';
        const cols = [p.expertBytes, p.denseBytes + p.embeddingBytes, p.kvBytes, p.runtimeBytes, p.transientBytes, p.totalBytes].map((b) => sizeText(b).padEnd(11));
        const perParam = ((p.expertBytes + p.denseBytes + p.embeddingBytes) / p.parameters).toFixed(2).padEnd(8);
        return `  ${p.precision.padEnd(10)} ${cols.join(' ')} ${perParam} ${fit.padEnd(6)} ${p.implemented ? EXPECTED_AGREEMENT[p.precision] : 'not implemented'}`;
      }),
      `precision auto    ${s.memory.auto}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  },
};
