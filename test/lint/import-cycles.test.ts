// The import-cycle check of `npm run lint` (scripts/check-imports.mjs): it finds a cycle through
// a type-only and a dynamic import, names every file in it, and src/ has none.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

interface Checker {
  findCycles(root: string): string[][];
}
const checker = (await import(pathToFileURL(resolve('scripts/check-imports.mjs')).href)) as Checker;

describe('import cycle check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kts-cycles-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('finds a cycle made of a type-only import and a dynamic one, and only that one', () => {
    mkdirSync(join(dir, 'a'));
    writeFileSync(join(dir, 'a', 'x.ts'), "import type { Y } from '../y.js';\nexport type X = Y;\n");
    writeFileSync(join(dir, 'y.ts'), "export type Y = number;\nexport async function z() { return import('./a/x.js'); }\n");
    writeFileSync(join(dir, 'leaf.ts'), "import { z } from './y.js';\nexport const w = z;\n");
    assert.deepEqual(checker.findCycles(dir), [['a/x.ts', 'y.ts']]);
  });

  it('src/ has no import cycle', () => {
    assert.deepEqual(checker.findCycles(resolve('src')), []);
  });
});
