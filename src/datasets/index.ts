export * from './types.js';
export { buildDataset } from './dataset.js';
export { loadFlores } from './flores.js';
export { loadBelebele } from './belebele.js';
export { loadMgsm } from './mgsm.js';
export { loadPolymath, POLYMATH_LEVELS } from './polymath.js';
export { loadXquad } from './xquad.js';
export { loadTabular, type TabularOptions } from './tabular.js';
export {
  TEMPLATES, getTemplate, belebeleText, contentText, BOXED_INSTRUCTION_EN, BOXED_INSTRUCTIONS, INSTRUCTIONS, boxedInstruction,
  type ChatMessage, type RenderedPrompt, type PromptTemplate, type InstructionChoice,
} from './templates.js';
export { DATASET_KINDS, loadDataset, type DatasetKindInfo } from './registry.js';
export { checkLanguageCode } from './files.js';
export { reloadDataset, DATASET_SPLITS, type RecordedDataset } from './reload.js';
