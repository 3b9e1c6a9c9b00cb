#!/usr/bin/env node
// Build step: generates the TypeScript types of our CRI contract (proto/runtime/v1/api.proto)
// into src/gen/cri with @grpc/proto-loader's generator. The output is not committed (see
// .gitignore); `npm run build` runs this first. The flags must match the load options in
// src/native/cri/proto.ts, or the types would lie about the decoded objects.
import { execFileSync } from 'node:child_process';
import { rmSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'src', 'gen', 'cri');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const bin = join(root, 'node_modules', '.bin', 'proto-loader-gen-types');
execFileSync(
  bin,
  [
    // The file name goes first: yargs lets the array option --includeDirs swallow what follows it.
    'runtime/v1/api.proto',
    '--grpcLib=@grpc/grpc-js',
    '--longs=Number',
    '--enums=String',
    '--defaults',
    '--oneofs',
    '--importFileExtension=.js',
    `--outDir=${out}`,
    `--includeDirs=${join(root, 'proto')}`,
  ],
  { stdio: 'inherit', cwd: root },
);
