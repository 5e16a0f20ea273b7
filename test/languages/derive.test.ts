import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_GLOTTOLOG_DIR, deriveLanguageTable, parseCsv } from '../../tools/derive-languages.js';
import { LANGUAGE_TABLE_PATH, loadLanguageTable } from '../../src/languages/index.js';
import { NewickError, parseNewick, parseNexusTrees, pathFromRoot } from '../../src/languages/newick.js';

describe('Newick reader', () => {
  it('builds parent links and root paths', () => {
    const t = parseNewick('[&R] ((a:1,b:1)ab:1,c:1)root:1;');
    expect(t.root).toBe('root');
    expect(pathFromRoot(t, 'b')).toEqual(['root', 'ab', 'b']);
    expect(pathFromRoot(t, 'c')).toEqual(['root', 'c']);
    expect(pathFromRoot(t, 'root')).toEqual(['root']);
    expect(pathFromRoot(t, 'zz')).toBeUndefined();
    const trees = parseNexusTrees('#NEXUS\nBEGIN TREES;\n    tree f1 = [&R] (x:1)f1:1;\n    tree f2 = [&R] (y:1,(z:1)g:1)f2:1;\nEND;');
    expect([...trees.keys()]).toEqual(['f1', 'f2']);
    expect(pathFromRoot(trees.get('f2')!, 'z')).toEqual(['f2', 'g', 'z']);
  });

  it('rejects malformed trees', () => {
    expect(() => parseNewick('((a,b)c;')).toThrow(NewickError);
    expect(() => parseNewick('(a,b)x)y;')).toThrow(/Unbalanced/);
    expect(() => parseNewick('(a,b);')).toThrow(/Unlabelled/);
  });
});

describe('CSV reader', () => {
  it('handles quoted commas, quotes and CRLF', () => {
    expect(parseCsv('a,"b,c","d ""e"""\r\n1,2,3\n')).toEqual([['a', 'b,c', 'd "e"'], ['1', '2', '3']]);
  });
});

const haveGlottolog = existsSync(`${DEFAULT_GLOTTOLOG_DIR}/languages.csv`) && existsSync(`${DEFAULT_GLOTTOLOG_DIR}/classification.nex`);

describe.skipIf(!haveGlottolog)(
  `derivation from Glottolog 5.1${haveGlottolog ? '' : ` (skipped: ${DEFAULT_GLOTTOLOG_DIR} is absent, as in a fresh clone without ../shared)`}`,
  () => {
    it('reproduces the committed table exactly', () => {
      const { json } = deriveLanguageTable(DEFAULT_GLOTTOLOG_DIR);
      expect(json).toBe(readFileSync(LANGUAGE_TABLE_PATH, 'utf8'));
    });

    it('agrees with the Family_ID column of languages.csv for every row', () => {
      // Independent of the tree walk: Glottolog states each languoid's top-level family directly.
      const [header, ...rows] = parseCsv(readFileSync(`${DEFAULT_GLOTTOLOG_DIR}/languages.csv`, 'utf8'));
      const id = header!.indexOf('ID');
      const fam = header!.indexOf('Family_ID');
      const familyById = new Map(rows.map((r) => [r[id]!, r[fam]!]));
      for (const l of loadLanguageTable().languages) {
        const stated = familyById.get(l.glottocode);
        expect(stated, l.iso3).toBeDefined();
        expect(l.familyGlottocode, l.iso3).toBe(stated === '' ? l.glottocode : stated);
      }
    });
  },
);
