#!/usr/bin/env node
// The `kubelet-ts` command. Sub-commands load their module lazily, so `kubelet-ts version` does
// not pay for gRPC or containerd code. Each sub-command returns an exit code; errors that reach
// here are printed as one clear line (and logged), never as a bare stack trace.
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createRootLogger, type Logger } from './log.js';
import { packageVersion } from './version.js';
import { parseDuration } from './config/duration.js';
import { parseFlags } from './config/flags.js';

export { parseDuration, parseFlags };

const USAGE = `kubelet-ts: a Kubernetes node agent in TypeScript

Usage: kubelet-ts [kubelet flags]        run the kubelet (standalone: static pods)
       kubelet-ts <command> [flags]

Commands:
  sim-runtime --listen unix:///PATH [--config FILE] [--control unix:///PATH]
                         serve the simulated CRI runtime (runtime.v1 and runtime.v1alpha2)
  containerd up --state-dir DIR [--netns PATH]
                         run a private containerd configured for kubelet-ts, images imported
  containerd down [--state-dir DIR]
                         stop a managed containerd a kubelet left running, and its pods
  containerd check       report what containerd needs and what is missing
  images build           build the local busybox and pause images (OCI layouts, cached)
  cri-check --runtime-endpoint unix:///PATH [--image-service-endpoint unix:///PATH]
            [--runtime-request-timeout 2m] [--api-version v1|v1alpha2]
                         ask a CRI runtime for its version, status, sandboxes and images
  version                print the version

Kubelet flags are the upstream ones (--config, --pod-manifest-path, --container-runtime-endpoint,
--hostname-override, --root-dir, --port, ...): \`kubelet-ts --help-flags\` lists them all.
Without --container-runtime-endpoint the kubelet runs its own containerd (or, with
--embedded-runtime=sim, the simulated runtime in-process). With --kubeconfig it is a node of
that cluster: it registers, runs the pods bound to it and reports their status.
Log level: KUBELET_TS_LOG_LEVEL (trace, debug, info, warn, error).`;

export { packageVersion };

async function criCheck(argv: readonly string[], log: Logger): Promise<number> {
  const flags = parseFlags(argv, ['runtime-endpoint', 'image-service-endpoint', 'runtime-request-timeout', 'api-version']);
  const endpoint = flags.get('runtime-endpoint');
  if (!endpoint) throw new Error('cri-check needs --runtime-endpoint unix:///PATH');
  const apiVersion = flags.get('api-version') ?? 'v1';
  if (apiVersion !== 'v1' && apiVersion !== 'v1alpha2') throw new Error(`--api-version must be v1 or v1alpha2, not "${apiVersion}"`);
  const { connectCri } = await import('./native/cri/index.js');
  const imageEndpoint = flags.get('image-service-endpoint');
  const cri = connectCri(endpoint, {
    runtimeRequestTimeoutMs: parseDuration(flags.get('runtime-request-timeout') ?? '2m'),
    apiVersion,
    logger: log,
    ...(imageEndpoint ? { imageEndpoint } : {}),
  });
  try {
    const version = await cri.Version({ version: apiVersion });
    const status = await cri.Status({ verbose: false });
    const sandboxes = await cri.ListPodSandbox({});
    const containers = await cri.ListContainers({});
    const images = await cri.ListImages({});
    const out = {
      endpoint,
      apiVersion,
      runtime: `${version.runtimeName} ${version.runtimeVersion}`,
      runtimeApiVersion: version.runtimeApiVersion,
      conditions: (status.status?.conditions ?? []).map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message })),
      sandboxes: sandboxes.items.length,
      sandboxesReady: sandboxes.items.filter((s) => s.state === 'SANDBOX_READY').length,
      containers: containers.containers.length,
      containersRunning: containers.containers.filter((c) => c.state === 'CONTAINER_RUNNING').length,
      images: images.images.flatMap((i) => (i.repoTags.length > 0 ? i.repoTags : [i.id])),
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    const notReady = out.conditions.filter((c) => !c.status);
    return notReady.length === 0 ? 0 : 1;
  } finally {
    cri.close();
  }
}

async function runKubelet(argv: readonly string[], log: Logger): Promise<number> {
  const { loadKubeletConfig } = await import('./config/kubelet-config.js');
  const { config, warnings } = loadKubeletConfig(argv);
  for (const w of warnings) log.warn({}, w);
  const { startKubelet } = await import('./kubelet.js');
  const kubelet = await startKubelet(config, log);
  log.info({ node: kubelet.nodeName, staticPodPath: config.staticPodPath || undefined, port: kubelet.server?.port }, 'kubelet-ts is running');
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  log.info({ signal }, 'shutting down');
  await kubelet.stop();
  return 0;
}

export async function main(argv: readonly string[]): Promise<number> {
  const log = createRootLogger();
  const [command, ...rest] = argv;
  if (command === '--help-flags') {
    const { flagsHelp } = await import('./config/kubelet-config.js');
    process.stdout.write(`kubelet flags (file field in brackets):\n${flagsHelp()}\n`);
    return 0;
  }
  if (command !== undefined && command.startsWith('--') && command !== '--help' && command !== '--version') {
    return runKubelet(argv, log);
  }
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    case 'version':
    case '--version':
      process.stdout.write(`kubelet-ts ${packageVersion()}\n`);
      return 0;
    case 'sim-runtime': {
      const { runSimRuntimeCommand } = await import('./sim/cli.js');
      return runSimRuntimeCommand([...rest], log);
    }
    case 'containerd':
    case 'images': {
      const { runContainerdCommand } = await import('./native/containerd/cli.js');
      return runContainerdCommand([command, ...rest], log);
    }
    case 'cri-check':
      return criCheck(rest, log);
    default:
      process.stderr.write(`kubelet-ts: unknown command "${command}"\n\n${USAGE}\n`);
      return 2;
  }
}

// Run only as the entry point, so tests can import parseFlags and parseDuration.
const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(realpathSync(entry)).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      const code = (err as { code?: unknown }).code;
      process.stderr.write(`kubelet-ts: ${message}${typeof code === 'string' ? ` (${code})` : ''}\n`);
      process.exitCode = 1;
    },
  );
}
