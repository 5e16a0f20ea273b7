/** A tiny parallel-ish dataset for capture and experiment tests: real words, no files from outside the repository. */
import { writeFileSync } from 'node:fs';

const WORDS: Record<string, string[]> = {
  en: ['the', 'cat', 'sat', 'on', 'mat', 'and', 'dog', 'ate', 'bread', 'house'],
  fr: ['le', 'chat', 'est', 'sur', 'la', 'table', 'et', 'chien', 'mange', 'pain'],
  de: ['der', 'Hund', 'und', 'die', 'Katze', 'sind', 'in', 'dem', 'Haus', 'mal'],
};

/**
 * Writes a JSON-lines dataset ({language, id, text}) of `items` items per language (en, fr, de), item i being
 * 3 + (i % lengthCycle) words drawn deterministically from the language's ten words.
 */
export function writeToyCorpus(file: string, languages: readonly string[], items: number, lengthCycle: number): void {
  const lines: string[] = [];
  for (const l of languages) {
    const words = WORDS[l];
    if (!words) throw new Error(`writeToyCorpus: no words for language '${l}' (have ${Object.keys(WORDS).join(', ')})`);
    for (let i = 0; i < items; i++) {
      const n = 3 + (i % lengthCycle);
      const text = Array.from({ length: n }, (_, j) => words[(i * 7 + j * 3) % 10]).join(' ');
      lines.push(JSON.stringify({ language: l, id: `item-${i}`, text }));
    }
  }
  writeFileSync(file, lines.join('\n') + '\n');
}
