#!/usr/bin/env node
// Import cycles and layering in src/ (issue 18): part of `npm run lint`, so neither comes back.
// Every relative import of a .ts file under src/ counts, type-only and dynamic ones included (a
// type-only cycle still ties two modules' meanings together). Layers, lowest first: the domain
// (bus, pods, probes, native, api, volumes, sources, server, sim, ...), then actors/, then
// cluster/, then the composition (kubelet.ts, kubelet/, cli.ts); a module may import from its own layer
// or a lower one, never up. Prints each cycle and each upward import, and exits 1 if any.
//
//   node scripts/check-imports.mjs [root]      root defaults to src/
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|^import\s*['"](\.{1,2}\/[^'"]+)['"]/gm;

function tsFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The import graph of the .ts files under `root`: file -> files it imports. */
export function importGraph(root) {
  const files = new Set(tsFiles(root));
  const graph = new Map();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const deps = new Set();
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3];
      const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
      if (files.has(target)) deps.add(target);
    }
    graph.set(file, [...deps]);
  }
  return graph;
}

/** Every strongly connected component of more than one file (or a file importing itself). */
export function findCycles(root) {
  const graph = importGraph(root);
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const cycles = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(scc.map((f) => relative(root, f)).sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return cycles;
}

/** The layers, lowest first, by path prefix relative to the root; a file in none is the domain (0). */
export const LAYERS = [
  { name: 'actors', prefixes: ['actors/'] },
  { name: 'cluster', prefixes: ['cluster/'] },
  { name: 'composition', prefixes: ['kubelet.ts', 'kubelet/', 'cli.ts'] },
];

function layerOf(rel) {
  for (let i = LAYERS.length - 1; i >= 0; i--) if (LAYERS[i].prefixes.some((p) => rel === p || rel.startsWith(p))) return i + 1;
  return 0;
}
const layerName = (n) => (n === 0 ? 'domain' : LAYERS[n - 1].name);

/** Every import from a lower layer up into a higher one: "from -> to (layer -> layer)". */
export function findUpwardImports(root) {
  const graph = importGraph(root);
  const out = [];
  for (const [file, deps] of graph) {
    const from = relative(root, file);
    for (const dep of deps) {
      const to = relative(root, dep);
      const a = layerOf(from);
      const b = layerOf(to);
      if (b > a) out.push(`${from} -> ${to} (${layerName(a)} imports ${layerName(b)})`);
    }
  }
  return out.sort();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? 'src');
  const where = relative(process.cwd(), root) || '.';
  const cycles = findCycles(root);
  for (const c of cycles) console.error(`import cycle in ${where}: ${c.join(' <-> ')}`);
  const upward = findUpwardImports(root);
  for (const u of upward) console.error(`upward import in ${where}: ${u}`);
  if (cycles.length > 0 || upward.length > 0) process.exit(1);
  console.log(`check-imports: no import cycle and no upward import among ${importGraph(root).size} files`);
}
