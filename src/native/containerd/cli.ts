// `kubelet-ts containerd up|check` and `kubelet-ts images build`.
import type { Logger } from 'pino';
import { checkContainerdDeps, describeMissing } from './deps.js';
import { ManagedContainerd } from './managed.js';
import { buildImages, ensureImages } from './images.js';
import { parseFlags } from '../../config/flags.js';

export async function runContainerdCommand(argv: readonly string[], log: Logger): Promise<number> {
  const [group, sub, ...rest] = argv;
  if (group === 'images' && sub === 'build') {
    const cacheDir = parseFlags(rest, ['cache-dir']).get('cache-dir');
    const images = await buildImages({ logger: log, ...(cacheDir ? { cacheDir } : {}) });
    for (const i of images) process.stdout.write(`${i.name} ${i.archive}\n`);
    return 0;
  }
  if (group === 'containerd' && sub === 'check') {
    const missing = checkContainerdDeps();
    for (const line of describeMissing(missing)) process.stdout.write(`missing: ${line}\n`);
    if (missing.length === 0) process.stdout.write('containerd, ctr, runc, the CNI plugins, ip, busybox and umoci are installed\n');
    return missing.length === 0 ? 0 : 1;
  }
  if (group === 'containerd' && sub === 'down') {
    const stateDir = parseFlags(rest, ['state-dir']).get('state-dir') ?? '/var/lib/kubelet-ts/containerd';
    // Adopts the instance a kubelet left running (or starts one), then stops it with its pods.
    const mc = await ManagedContainerd.start({ stateDir, logger: log });
    await mc.stop({ removePods: true });
    process.stdout.write(`stopped the managed containerd of ${stateDir} and removed its pods\n`);
    return 0;
  }
  if (group === 'containerd' && sub === 'up') {
    const f = parseFlags(rest, ['state-dir', 'netns', 'bridge', 'pod-subnet']);
    const stateDir = f.get('state-dir') ?? '/var/lib/kubelet-ts/containerd';
    const netnsPath = f.get('netns');
    const bridgeName = f.get('bridge');
    const podSubnet = f.get('pod-subnet');
    const mc = await ManagedContainerd.start({
      stateDir,
      logger: log,
      ...(netnsPath ? { netnsPath } : {}),
      ...(bridgeName ? { bridgeName } : {}),
      ...(podSubnet ? { podSubnet } : {}),
    });
    try {
      await ensureImages({ endpoint: mc.endpoint, logger: log });
    } catch (err) {
      await mc.stop();
      throw err;
    }
    process.stdout.write(`containerd is running: --container-runtime-endpoint=${mc.endpoint}\n(Ctrl-C stops it and removes its pods)\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await mc.stop();
    return 0;
  }
  process.stderr.write(
    'usage: kubelet-ts containerd up --state-dir DIR [--netns PATH] | containerd down [--state-dir DIR] | containerd check | images build [--cache-dir DIR]\n',
  );
  return 2;
}
