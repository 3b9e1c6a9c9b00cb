// The import checks of `npm run lint` (scripts/check-imports.mjs): it finds a cycle through a
// type-only and a dynamic import and names every file in it; it finds an import from the domain
// (pods/, bus/) up into actors/ or cluster/, and from actors/ into cluster/; src/ has neither.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

interface Checker {
  findCycles(root: string): string[][];
  findUpwardImports(root: string): string[];
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

  it('finds imports that go up a layer, type-only ones included, and none that go down', () => {
    const root = join(dir, 'layers');
    for (const d of ['pods', 'bus', 'actors/pleg', 'cluster']) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'pods', 'sync.ts'), "import type { L } from '../actors/pleg/logic.js';\nexport type S = L;\n");
    writeFileSync(join(root, 'bus', 'messages.ts'), "import type { S } from '../pods/sync.js';\nexport type M = S;\n");
    writeFileSync(join(root, 'actors', 'pleg', 'logic.ts'), "export type L = number;\nexport const c = () => import('../../cluster/status.js');\n");
    writeFileSync(
      join(root, 'cluster', 'status.ts'),
      "import type { M } from '../bus/messages.js';\nimport type { L } from '../actors/pleg/logic.js';\nexport type C = [M, L];\n",
    );
    writeFileSync(join(root, 'kubelet.ts'), "import type { C } from './cluster/status.js';\nexport type K = C;\n");
    assert.deepEqual(checker.findUpwardImports(root), [
      'actors/pleg/logic.ts -> cluster/status.ts (actors imports cluster)',
      'pods/sync.ts -> actors/pleg/logic.ts (domain imports actors)',
    ]);
  });

  it('src/ has no upward import', () => {
    assert.deepEqual(checker.findUpwardImports(resolve('src')), []);
  });
});
