// `kubelet-ts sim-runtime --listen unix:///PATH [--config FILE.yaml|json] [--control unix:///PATH2]`
// Serves the simulated CRI runtime (runtime.v1 and runtime.v1alpha2) until SIGINT or SIGTERM,
// with the optional control API beside it; both sockets are removed on exit.
import type { Logger } from 'pino';
import { parseFlags } from '../config/flags.js';
import { loadSimConfig } from './config.js';
import { startSimControlServer, type SimControlServer } from './control.js';
import { startSimRuntimeServer } from './server.js';

export const SIM_RUNTIME_USAGE = 'usage: kubelet-ts sim-runtime --listen unix:///PATH [--config FILE.yaml|FILE.json] [--control unix:///PATH]';

/**
 * Runs the sim-runtime command; resolves with the exit code once a signal (or `signal`, for
 * callers running it in-process) stops it. Bad flags or config: a clear line on stderr, code 2.
 */
export async function runSimRuntimeCommand(argv: string[], logger: Logger, signal?: AbortSignal): Promise<number> {
  const log = logger.child({ component: 'sim-runtime' });
  let flags: Map<string, string>;
  let options;
  try {
    flags = parseFlags(argv, ['listen', 'config', 'control']);
    if (!flags.get('listen') || flags.get('listen') === 'true') throw new Error('--listen unix:///PATH is required');
    const configPath = flags.get('config');
    options = configPath ? loadSimConfig(configPath) : {};
  } catch (err) {
    process.stderr.write(`kubelet-ts sim-runtime: ${err instanceof Error ? err.message : String(err)}\n${SIM_RUNTIME_USAGE}\n`);
    return 2;
  }
  const server = await startSimRuntimeServer({ listen: flags.get('listen') ?? '', runtime: options, logger: log });
  let control: SimControlServer | undefined;
  try {
    const controlListen = flags.get('control');
    if (controlListen) control = await startSimControlServer(server.runtime, { listen: controlListen, logger: log });
  } catch (err) {
    await server.close();
    throw err;
  }
  log.info({ endpoint: server.endpoint, control: control?.socketPath, seed: server.runtime.seed }, 'sim runtime serving');
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop, { once: true });
  });
  log.info('sim runtime stopping');
  await control?.close();
  await server.close();
  return 0;
}
