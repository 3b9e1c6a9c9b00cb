#!/usr/bin/env node
// Stand-alone entry for the sim runtime (`node dist/src/sim/cli-main.js --listen unix:///PATH`),
// the same command as `kubelet-ts sim-runtime`, without loading the rest of the CLI.
import { createRootLogger } from '../log.js';
import { runSimRuntimeCommand } from './cli.js';

runSimRuntimeCommand(process.argv.slice(2), createRootLogger({ name: 'kubelet-ts-sim' })).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`kubelet-ts sim-runtime: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
