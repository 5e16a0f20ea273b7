import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join, resolve } from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTemplate, loadBelebele, loadDataset, loadFlores, loadMgsm, loadPolymath, loadTabular, loadXquad, DATASET_KINDS } from '../../src/datasets/index.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'routescope-datasets-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(path: string, text: string) {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

describe('FLORES+ / FLORES-200', () => {
  it('reads FLORES+ Parquet files (id, text columns) and aligns by id', async () => {
    const root = join(dir, 'flores_plus');
    mkdirSync(join(root, 'dev'), { recursive: true });
    parquetWriteFile({ filename: join(root, 'dev', 'eng_Latn.parquet'), columnData: [
      { name: 'id', data: [1, 2, 3], type: 'INT32' },
      { name: 'iso_639_3', data: ['eng', 'eng', 'eng'], type: 'STRING' },
      { name: 'text', data: ['The cat sleeps.', 'It rains.', 'Hello there.'], type: 'STRING' },
    ] });
    parquetWriteFile({ filename: join(root, 'dev', 'fra_Latn.parquet'), columnData: [
      { name: 'id', data: [2, 1, 3], type: 'INT32' },
      { name: 'text', data: ['Il pleut.', 'Le chat dort.', 'Bonjour.'], type: 'STRING' },
    ] });
    const ds = await loadFlores(root);
    expect(ds.languages).toEqual(['eng_Latn', 'fra_Latn']);
    expect(ds.ids).toEqual(['1', '2', '3']);
    expect(ds.items('fra_Latn').map((i) => i.text)).toEqual(['Le chat dort.', 'Il pleut.', 'Bonjour.']);
    expect(ds.defaultTemplate).toBe('raw');
    expect(getTemplate('raw').render(ds.item('eng_Latn', '2'))).toEqual({ kind: 'raw', text: 'It rains.' });
    await expect(loadFlores(root, { languages: ['deu_Latn'] })).rejects.toThrow(/unknown language code 'deu_Latn' \(available: eng_Latn, fra_Latn\)/);
    await expect(loadFlores(root, { languages: ['english'] })).rejects.toThrow(/'english' is not a language code/);
  });

  it('reads gzip-compressed Parquet pages', async () => {
    const root = join(dir, 'flores_gzip');
    mkdirSync(join(root, 'devtest'), { recursive: true });
    for (const [lang, texts] of [['eng_Latn', ['One.', 'Two.']], ['deu_Latn', ['Eins.', 'Zwei.']]] as const) {
      parquetWriteFile({
        filename: join(root, 'devtest', `${lang}.parquet`), codec: 'GZIP', compressors: { GZIP: (b: Uint8Array) => new Uint8Array(gzipSync(b)) },
        columnData: [{ name: 'id', data: [1, 2], type: 'INT32' }, { name: 'text', data: [...texts], type: 'STRING' }],
      });
    }
    const ds = await loadFlores(root, { split: 'devtest' });
    expect(ds.items('deu_Latn').map((i) => i.text)).toEqual(['Eins.', 'Zwei.']);
    writeFileSync(join(root, 'devtest', 'fra_Latn.parquet'), 'PAR1 this is not parquet PAR1');
    await expect(loadFlores(root, { split: 'devtest', languages: ['fra_Latn'] })).rejects.toThrow(/cannot read Parquet file .*fra_Latn\.parquet/);
  });

  it('reads FLORES-200 text files, one sentence per line, and rejects bad ones', async () => {
    const root = join(dir, 'flores200_dataset');
    write(join(root, 'devtest', 'eng_Latn.devtest'), 'One.\nTwo.\nThree.\n');
    write(join(root, 'devtest', 'swh_Latn.devtest'), 'Moja.\nMbili.\nTatu.\n');
    const ds = await loadFlores(root, { split: 'devtest', limit: 2 });
    expect(ds.ids).toEqual(['1', '2']);
    expect(ds.item('swh_Latn', '2').text).toBe('Mbili.');
    write(join(root, 'devtest', 'fra_Latn.devtest'), 'Un.\n\nTrois.\n');
    await expect(loadFlores(root, { split: 'devtest', languages: ['fra_Latn'] })).rejects.toThrow(/fra_Latn\.devtest line 2 is empty/);
    write(join(root, 'devtest', 'deu_Latn.devtest'), '');
    await expect(loadFlores(root, { split: 'devtest', languages: ['deu_Latn'] })).rejects.toThrow(/deu_Latn\.devtest is empty/);
    await expect(loadFlores(join(dir, 'missing'))).rejects.toThrow(/folder .*missing does not exist/);
    await expect(loadFlores(root, { split: 'train' })).rejects.toThrow(/split must be 'dev' or 'devtest'/);
  });
});

describe('Belebele', () => {
  const row = (n: number, lang: string) => ({
    link: `https://en.wikibooks.org/wiki/Page_${n}`, question_number: 1, flores_passage: `Passage ${n} (${lang})`,
    question: `Question ${n}?`, mc_answer1: 'a1', mc_answer2: 'a2', mc_answer3: 'a3', mc_answer4: 'a4', correct_answer_num: '2', dialect: lang, ds: '2023-05-03',
  });
  it('reads JSONL per language and renders the paper prompt with lettered options', async () => {
    const root = join(dir, 'belebele');
    write(join(root, 'data', 'eng_Latn.jsonl'), [row(1, 'eng_Latn'), row(2, 'eng_Latn')].map((r) => JSON.stringify(r)).join('\n') + '\n');
    write(join(root, 'data', 'zho_Hans.jsonl'), [row(2, 'zho_Hans'), row(1, 'zho_Hans')].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const ds = await loadBelebele(root);
    expect(ds.ids).toEqual(['https://en.wikibooks.org/wiki/Page_1#1', 'https://en.wikibooks.org/wiki/Page_2#1']);
    const item = ds.items('zho_Hans')[0]!;
    expect(item.passage).toBe('Passage 1 (zho_Hans)');
    const prompt = getTemplate(ds.defaultTemplate).render(item);
    expect(prompt).toEqual({
      kind: 'chat', addGenerationPrompt: true, enableThinking: false,
      messages: [{ role: 'user', content: 'Passage 1 (zho_Hans)\nQuestion 1?\nA. a1\nB. a2\nC. a3\nD. a4' }],
    });
  });
  it('names the line of a malformed or incomplete row', async () => {
    const root = join(dir, 'belebele-bad');
    write(join(root, 'eng_Latn.jsonl'), JSON.stringify(row(1, 'e')) + '\n{"link": "x", \n');
    await expect(loadBelebele(root)).rejects.toThrow(/eng_Latn\.jsonl line 2: malformed JSON/);
    const { mc_answer3: _, ...noOption } = row(1, 'e');
    write(join(root, 'eng_Latn.jsonl'), JSON.stringify(noOption) + '\n');
    await expect(loadBelebele(root)).rejects.toThrow(/eng_Latn\.jsonl line 1: missing field 'mc_answer3'/);
  });
});

describe('MGSM', () => {
  it('reads TSV per language (question, answer) and renders the bare question', async () => {
    const root = join(dir, 'mgsm');
    write(join(root, 'mgsm_en.tsv'), 'Janet has 3 apples. How many?\t3\n"A ""quoted"" question\twith tab?"\t42\n');
    write(join(root, 'mgsm_de.tsv'), 'Janet hat 3 Äpfel. Wie viele?\t3\nEine Frage?\t42\n');
    const ds = await loadMgsm(root, { languages: ['en', 'de'] });
    expect(ds.ids).toEqual(['0', '1']);
    expect(ds.item('en', '1').question).toBe('A "quoted" question\twith tab?');
    expect(ds.item('de', '1').answer).toBe('42');
    expect(getTemplate('mgsm').render(ds.item('de', '0'))).toEqual({ kind: 'chat', addGenerationPrompt: true, enableThinking: false, messages: [{ role: 'user', content: 'Janet hat 3 Äpfel. Wie viele?' }] });
    write(join(root, 'mgsm_fr.tsv'), 'Une question?\t3\textra\n');
    await expect(loadMgsm(root, { languages: ['fr'] })).rejects.toThrow(/mgsm_fr\.tsv line 1: expected 2 tab-separated columns .* found 3/);
    await expect(loadMgsm(root, { languages: ['xx'] })).rejects.toThrow(/unknown language code 'xx' \(available: de, en, fr\)/);
  });
});

describe('generic JSONL / CSV', () => {
  it('reads a JSONL file with a language column and aligns ids', async () => {
    const f = join(dir, 'mine.jsonl');
    write(f, [
      { language: 'en', id: 'a', text: 'Hello', topic: 'greet' }, { language: 'fr', id: 'a', text: 'Bonjour' },
      { language: 'en', id: 'b', text: 'Bye' }, { language: 'fr', id: 'b', text: 'Salut' }, { language: 'en', id: 'c', text: 'Only English' },
    ].map((r) => JSON.stringify(r)).join('\n'));
    const ds = await loadTabular(f);
    expect(ds.languages).toEqual(['en', 'fr']);
    expect(ds.ids).toEqual(['a', 'b']);
    expect(ds.unaligned).toEqual({ en: 1, fr: 0 });
    expect(ds.item('en', 'a').meta).toEqual({ topic: 'greet' });
  });
  it('reads CSV with quoted fields and reports wrong columns', async () => {
    const f = join(dir, 'mine.csv');
    write(f, 'lang,key,sentence\nen,1,"Hello, world"\nde,1,"Hallo,\nWelt"\n');
    const ds = await loadDataset('csv', f, { languageColumn: 'lang', idColumn: 'key', textColumn: 'sentence' });
    expect(ds.item('de', '1').text).toBe('Hallo,\nWelt');
    await expect(loadTabular(f)).rejects.toThrow(/line 1: no column 'language' \(columns: lang, key, sentence\)/);
    write(join(dir, 'ragged.csv'), 'language,id,text\nen,1,hi,extra\n');
    await expect(loadTabular(join(dir, 'ragged.csv'))).rejects.toThrow(/ragged\.csv line 2: 4 columns, the header has 3/);
    write(join(dir, 'badlang.csv'), 'language,id,text\nEnglish,1,hi\n');
    await expect(loadTabular(join(dir, 'badlang.csv'))).rejects.toThrow(/line 2: 'English' is not a language code/);
    write(join(dir, 'empty.jsonl'), '\n\n');
    await expect(loadTabular(join(dir, 'empty.jsonl'))).rejects.toThrow(/empty\.jsonl is empty/);
    await expect(loadTabular(join(dir, 'nope.jsonl'))).rejects.toThrow(/nope\.jsonl does not exist/);
    await expect(loadDataset('wikipedia', f)).rejects.toThrow(/unknown dataset kind 'wikipedia'/);
  });
  it('names the row and the problem for null or numeric text, NUL bytes and invalid UTF-8', async () => {
    const rows = (text: unknown) => [JSON.stringify({ language: 'en', id: 'a', text: 'fine' }), JSON.stringify({ language: 'en', id: 'b', text })].join('\n');
    write(join(dir, 'null.jsonl'), rows(null));
    await expect(loadTabular(join(dir, 'null.jsonl'))).rejects.toThrow(/null\.jsonl line 2: field 'text' is null/);
    write(join(dir, 'number.jsonl'), rows(42));
    await expect(loadTabular(join(dir, 'number.jsonl'))).rejects.toThrow(/number\.jsonl line 2: field 'text' must be text, got the number 42/);
    write(join(dir, 'nul.jsonl'), rows('bad\u0000byte'));
    await expect(loadTabular(join(dir, 'nul.jsonl'))).rejects.toThrow(/nul\.jsonl line 2: field 'text' contains a NUL character at position 3/);
    write(join(dir, 'nul.csv'), 'language,id,text\nen,1,ok\nen,2,a\u0000b\n');
    await expect(loadTabular(join(dir, 'nul.csv'))).rejects.toThrow(/nul\.csv line 3: field 'text' contains a NUL character at position 1/);
    const bad = Buffer.concat([Buffer.from('{"language":"en","id":"a","text":"ok"}\n{"language":"en","id":"b","text":"caf'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]);
    writeFileSync(join(dir, 'latin1.jsonl'), bad);
    await expect(loadTabular(join(dir, 'latin1.jsonl'))).rejects.toThrow(/latin1\.jsonl line 2: invalid UTF-8 \(byte 0xC3 at column 38\)/);
    // ids may still be numbers (FLORES+ uses integer ids)
    write(join(dir, 'numid.jsonl'), JSON.stringify({ language: 'en', id: 7, text: 'hi' }));
    expect((await loadTabular(join(dir, 'numid.jsonl'))).ids).toEqual(['7']);
  });
});

const SHARED = resolve(__dirname, '../../../shared/data');
const havePolymath = existsSync(join(SHARED, 'polymath', 'en', 'low.jsonl'));
const haveXquad = existsSync(join(SHARED, 'xquad', 'xquad.en.json'));

describe.skipIf(!havePolymath)('PolyMath, real files (needs ../shared/data/polymath; absent in a fresh clone)', () => {
  it('loads the low level in 18 languages with 125 aligned problems each', async () => {
    const ds = await loadPolymath(join(SHARED, 'polymath'));
    expect(ds.languages).toHaveLength(18);
    expect(ds.ids).toHaveLength(125);
    expect(ds.ids[0]).toBe('low-0');
    expect(ds.item('en', 'low-0').answer).toBe(ds.item('zh', 'low-0').answer);
    expect(ds.item('en', 'low-0').question).toMatch(/^Janet/);
    const top = await loadPolymath(join(SHARED, 'polymath'), { split: 'top', languages: ['ja', 'sw'], limit: 5 });
    expect(top.ids).toEqual(['top-0', 'top-1', 'top-2', 'top-3', 'top-4']);
    await expect(loadPolymath(join(SHARED, 'polymath'), { languages: ['xx'] })).rejects.toThrow(/unknown language code 'xx'/);
  });
  it('also reads the Parquet layout', async () => {
    const root = join(dir, 'polymath-parquet');
    mkdirSync(join(root, 'en'), { recursive: true });
    mkdirSync(join(root, 'fr'), { recursive: true });
    parquetWriteFile({ filename: join(root, 'en', 'low-00000-of-00001.parquet'), columnData: [{ name: 'id', data: ['low-en-0', 'low-en-1'], type: 'STRING' }, { name: 'question', data: ['q0', 'q1'], type: 'STRING' }, { name: 'answer', data: ['1', '2'], type: 'STRING' }] });
    parquetWriteFile({ filename: join(root, 'fr', 'low-00000-of-00001.parquet'), columnData: [{ name: 'id', data: ['low-fr-1', 'low-fr-0'], type: 'STRING' }, { name: 'question', data: ['fq1', 'fq0'], type: 'STRING' }, { name: 'answer', data: ['2', '1'], type: 'STRING' }] });
    const ds = await loadPolymath(root);
    expect(ds.items('fr').map((i) => i.question)).toEqual(['fq0', 'fq1']);
  });
});

describe.skipIf(!haveXquad)('XQuAD, real files (needs ../shared/data/xquad; absent in a fresh clone)', () => {
  it('loads 1190 parallel questions per language', async () => {
    const ds = await loadXquad(join(SHARED, 'xquad'), { languages: ['en', 'de', 'th'] });
    expect(ds.ids).toHaveLength(1190);
    const id = ds.ids[0]!;
    expect(ds.item('de', id).passage).toMatch(/Panthers/);
    const p = getTemplate('xquad').render(ds.item('en', id));
    expect(p.kind).toBe('chat');
    if (p.kind === 'chat') expect(p.messages[0]!.content).toBe(`${ds.item('en', id).passage}\n${ds.item('en', id).question}`);
    write(join(dir, 'xq', 'xquad.en.json'), '{"data": [{"paragraphs": [{"qas": []}]}]}');
    await expect(loadXquad(join(dir, 'xq'))).rejects.toThrow(/paragraphs\[0\]: missing "context"/);
  });
});

describe('dataset registry', () => {
  it('lists every kind including the embedded UDHR slot, and loads UDHR through it', async () => {
    expect(Object.keys(DATASET_KINDS).sort()).toEqual(['belebele', 'csv', 'flores', 'jsonl', 'mgsm', 'polymath', 'udhr', 'xquad']);
    const ds = await DATASET_KINDS.udhr.load(undefined, { languages: ['eng', 'fra'], limit: 3 });
    expect(ds.kind).toBe('udhr');
    expect(ds.ids).toHaveLength(3);
    expect(ds.item('fra', ds.ids[1]!).text.length).toBeGreaterThan(20);
  });
});
