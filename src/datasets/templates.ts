/**
 * Prompt templates: pure functions from a dataset item to either raw text or chat messages. Rendering chat messages
 * through the model's own chat template (and marking which tokens are template markup) is the engine tokenizer's
 * job (src/engine/tokenizer.ts applyChatTemplate); `content` tells it which text is the item's own.
 */
import { DatasetError, type DatasetItem } from './types.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export type RenderedPrompt =
  | { kind: 'raw'; text: string }
  | {
      kind: 'chat';
      messages: ChatMessage[];
      /** Append the assistant header, as a prefill before generation would (arXiv 2601.14050 does). */
      addGenerationPrompt: boolean;
      /** Qwen3-style thinking switch; the papers capture with thinking disabled. */
      enableThinking: boolean;
    };

export interface PromptTemplate {
  name: string;
  description: string;
  render(item: DatasetItem): RenderedPrompt;
}

/** Belebele prompt of arXiv 2601.14050's routing capture: passage, question, then "A. .." to "D. .." lines. */
export function belebeleText(item: DatasetItem): string {
  if (!item.passage || !item.question || !item.options || item.options.length !== 4) {
    throw new DatasetError(`template 'belebele' needs a passage, a question and 4 options; item '${item.id}' lacks them`);
  }
  const letters = ['A', 'B', 'C', 'D'];
  const options = item.options.map((o, i) => `${letters[i]}. ${o}`).join('\n');
  return `${item.passage}\n${item.question}\n${options}\n`.trim();
}

/** The item's content as one text: multiple-choice items in the Belebele layout, QA items passage then question. */
export function contentText(item: DatasetItem): string {
  if (item.options && item.options.length === 4 && item.passage && item.question) return belebeleText(item);
  if (item.passage && item.question && item.passage !== item.question) return `${item.passage}\n${item.question}`;
  return item.text;
}

const userTurn = (content: string): RenderedPrompt => ({ kind: 'chat', messages: [{ role: 'user', content }], addGenerationPrompt: true, enableThinking: false });

export const TEMPLATES: Record<string, PromptTemplate> = {
  raw: {
    name: 'raw',
    description: 'the item text alone, no chat template (FLORES, UDHR)',
    render: (item) => ({ kind: 'raw', text: contentText(item) }),
  },
  chat: {
    name: 'chat',
    description: 'the item text as a single user turn, generation prompt added, thinking off',
    render: (item) => userTurn(contentText(item)),
  },
  belebele: {
    name: 'belebele',
    description: 'Belebele: passage, question and lettered options "A. .." as a single user turn (arXiv 2601.14050)',
    render: (item) => userTurn(belebeleText(item)),
  },
  mgsm: {
    name: 'mgsm',
    description: 'MGSM / PolyMath: the bare question as a single user turn (arXiv 2601.14050)',
    render: (item) => {
      if (!item.question) throw new DatasetError(`template 'mgsm' needs a question; item '${item.id}' has none`);
      return userTurn(item.question);
    },
  },
  xquad: {
    name: 'xquad',
    description: 'XQuAD: context paragraph then question as a single user turn',
    render: (item) => {
      if (!item.passage || !item.question) throw new DatasetError(`template 'xquad' needs a passage and a question; item '${item.id}' lacks them`);
      return userTurn(`${item.passage}\n${item.question}`);
    },
  },
};

/**
 * The "put the final answer in \boxed{}" instruction appended to MGSM/PolyMath questions. English is PolyMath's
 * wording (one sentence, as the arXiv 2601.14050 recipes quote it). The other languages are Routescope's own
 * translations of that sentence, written for this project (not PolyMath's per-language strings, which are not
 * bundled): a prompt built with them is in the item's language like the reference's, but not byte-identical
 * to it (docs/experiments.md, "Parity").
 */
export const BOXED_INSTRUCTION_EN = 'Note: Please put the final answer in the $\\boxed{}$.';
export const BOXED_INSTRUCTIONS: Readonly<Record<string, string>> = {
  en: BOXED_INSTRUCTION_EN,
  zh: '注意：请将最终答案写在 $\\boxed{}$ 中。',
  ar: 'ملاحظة: يرجى كتابة الإجابة النهائية داخل $\\boxed{}$.',
  bn: 'দ্রষ্টব্য: অনুগ্রহ করে চূড়ান্ত উত্তরটি $\\boxed{}$ এর মধ্যে লিখুন।',
  de: 'Hinweis: Bitte schreiben Sie die endgültige Antwort in $\\boxed{}$.',
  es: 'Nota: Por favor, escribe la respuesta final dentro de $\\boxed{}$.',
  fr: 'Remarque : veuillez écrire la réponse finale dans $\\boxed{}$.',
  id: 'Catatan: Tuliskan jawaban akhir di dalam $\\boxed{}$.',
  it: "Nota: scrivi la risposta finale all'interno di $\\boxed{}$.",
  ja: '注：最終的な答えを $\\boxed{}$ の中に書いてください。',
  ko: '참고: 최종 답을 $\\boxed{}$ 안에 적어 주세요.',
  ms: 'Nota: Sila tulis jawapan akhir di dalam $\\boxed{}$.',
  pt: 'Observação: escreva a resposta final dentro de $\\boxed{}$.',
  ru: 'Примечание: запишите окончательный ответ внутри $\\boxed{}$.',
  sw: 'Kumbuka: Tafadhali andika jibu la mwisho ndani ya $\\boxed{}$.',
  te: 'గమనిక: దయచేసి తుది సమాధానాన్ని $\\boxed{}$ లో రాయండి.',
  th: 'หมายเหตุ: โปรดเขียนคำตอบสุดท้ายไว้ใน $\\boxed{}$',
  vi: 'Lưu ý: Vui lòng viết câu trả lời cuối cùng trong $\\boxed{}$.',
};

/** `boxed-english`: PolyMath's English sentence for every language; `boxed-native`: the item's language's (ours). */
export const INSTRUCTIONS = ['boxed-english', 'boxed-native'] as const;
export type InstructionChoice = (typeof INSTRUCTIONS)[number];

export function boxedInstruction(choice: InstructionChoice, language: string): string {
  if (choice === 'boxed-english') return BOXED_INSTRUCTION_EN;
  const text = BOXED_INSTRUCTIONS[language];
  if (!text) throw new DatasetError(`no boxed-native instruction for language '${language}' (available: ${Object.keys(BOXED_INSTRUCTIONS).join(', ')}); use boxed-english or prompt.suffix`);
  return text;
}

export function getTemplate(name: string): PromptTemplate {
  const t = TEMPLATES[name];
  if (!t) throw new DatasetError(`unknown prompt template '${name}' (available: ${Object.keys(TEMPLATES).join(', ')})`);
  return t;
}
