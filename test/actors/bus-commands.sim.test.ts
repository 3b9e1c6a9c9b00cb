// Every actor driven only through bus requests (issue 18), the way the NATS bridge or a chaos
// driver will: a standalone kubelet on the embedded simulated runtime, and a second bus joined to
// its main bus by a port bridge, as another thread or process would be. Nothing here calls an
// actor's handle: the PLEG thread is reconfigured, relisted and asked for its stats and health;
// the eviction watcher observes now and reports its state; the probe thread is given a pod to probe (a TCP probe on a port this test listens on) and
// publishes its result on the bus; the pod workers, the sync pool and the health of every actor
// answer queries; a body that does not match the request's schema is refused with a code, and
// the node serves on.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { Bus, BusError, connectPort, type MessageOf, type PortBridge } from '../../src/bus/index.js';
import { loadKubeletConfig } from '../../src/config/kubelet-config.js';
import { startKubelet, type Kubelet } from '../../src/kubelet.js';
import { silentLogger } from '../../src/log.js';
import { waitFor } from '../helpers/cri-fixtures.js';

describe('actors driven through bus requests only', () => {
  let dir: string;
  let kubelet: Kubelet;
  let remote: Bus;
  let server: Server;
  let port: number;
  const results: MessageOf<'probe.result'>[] = [];
  const bridges: PortBridge[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kts-bus-commands-'));
    const manifests = join(dir, 'manifests');
    mkdirSync(manifests);
    writeFileSync(
      join(manifests, 'web.yaml'),
      'apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: default, uid: bus-commands-web}\nspec:\n  containers: [{name: app, image: busybox:1.35, command: [sleep, "3600"]}]\n',
    );
    const argv = [
      '--pod-manifest-path',
      manifests,
      '--embedded-runtime',
      'sim',
      '--hostname-override',
      'buscmd',
      '--root-dir',
      join(dir, 'root'),
      '--pod-logs-dir',
      join(dir, 'logs'),
      '--authorization-mode',
      'AlwaysAllow',
      '--file-check-frequency',
      '1s',
    ];
    kubelet = await startKubelet(loadKubeletConfig(argv).config, silentLogger, { serve: false });
    const { port1, port2 } = new MessageChannel();
    bridges.push(connectPort(kubelet.bus, port1, { name: 'remote' }));
    remote = new Bus({ name: 'remote' });
    bridges.push(connectPort(remote, port2, { name: 'kubelet' }));
    remote.subscribe('probe.result', (m) => {
      results.push(m);
    });
    server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });

  after(async () => {
    for (const b of bridges) b.close();
    remote.close();
    server.close();
    await kubelet.stop({ runtime: 'stop' });
    rmSync(dir, { recursive: true, force: true });
  });

  it('the PLEG thread: configure, relist now, stats and health', async () => {
    assert.deepEqual(await remote.call('pleg.configure', { relistPeriodMs: 250 }), { relistPeriodMs: 250 });
    await waitFor(
      'the static pod running',
      async () => ((await remote.call('pods.list', {})).pods.some((p) => p.name === 'web-buscmd' && p.phase === 'Running') ? true : undefined),
      30_000,
    );
    const before = await remote.call('pleg.stats', {});
    const relisted = await remote.call('pleg.relist', {});
    assert.equal(relisted.pods, 1, 'the relist saw the one pod the runtime runs');
    const afterStats = await remote.call('pleg.stats', {});
    assert.ok(afterStats.relists > before.relists, `a relist was counted (${before.relists} -> ${afterStats.relists})`);
    assert.deepEqual(await remote.call('pleg.health', {}), { ok: true });
    const stale = await remote.call('pleg.health', { thresholdMs: 0.001 });
    assert.equal(stale.ok, false, 'a threshold below the time since the last relist reports unhealthy');
    assert.match(stale.message ?? '', /PLEG is not healthy/);
  });

  it('the probe thread: a pod to probe, its result on the bus, stats, metrics, and forgetting it', async () => {
    const target = {
      uid: 'bus-commands-probed',
      name: 'probed',
      namespace: 'default',
      containers: [
        {
          name: 'app',
          containerId: 'c-1',
          startedAt: Date.now(),
          probes: [
            {
              kind: 'readiness' as const,
              timing: { initialDelayMs: 0, periodMs: 200, timeoutMs: 1000, successThreshold: 1, failureThreshold: 3 },
              handler: { type: 'tcpSocket' as const, host: '127.0.0.1', port },
            },
          ],
        },
      ],
    };
    assert.deepEqual(await remote.call('probes.set-pod', { target }), {});
    await waitFor(
      'the readiness result published',
      () => results.find((r) => r.podUid === target.uid && r.probe === 'readiness' && r.result === 'success'),
      30_000,
    );
    const stats = await remote.call('probes.stats', {});
    assert.equal(stats.workers, 1, 'one probe worker: the readiness probe given');
    assert.ok(stats.completed >= 1);
    const { text } = await remote.call('probes.metrics', {});
    assert.match(text, /prober_probe_total\{[^}]*pod="probed"[^}]*\} \d+/);
    assert.deepEqual(await remote.call('probes.remove-pod', { uid: target.uid }), {});
    assert.equal((await remote.call('probes.stats', {})).workers, 0, 'the pod is forgotten');
    assert.deepEqual(await remote.call('probes.set-pods', { targets: [target] }), { pods: 1 });
    assert.deepEqual(await remote.call('probes.set-pods', { targets: [] }), { pods: 0 }, 'set-pods forgets pods it does not name');
    assert.deepEqual(await remote.call('probes.reset-stats', {}), {});
  });

  it('the eviction watcher: observe now, its state; the simulated node is under no pressure', async () => {
    const observed = await remote.call('eviction.observe', {});
    assert.ok(observed.rounds >= 1);
    assert.deepEqual(observed.conditions, []);
    assert.deepEqual(observed.unknown, {}, 'every signal is read from the simulated node');
    assert.equal(observed.signals['memory.available']?.capacity, 512 * 2 ** 30, "the sim's figures, not the machine's");
    assert.equal(observed.pods, 1, 'the static pod is known (ranked, and never chosen: it is critical)');
    const state = await remote.call('eviction.state', {});
    assert.equal(state.rounds, observed.rounds);
    // The same thread keeps the stats summary, from the same sample.
    const { summary, error } = await remote.call('stats.summary', {});
    assert.equal(error, undefined);
    assert.equal(summary.node.nodeName, 'buscmd');
    assert.equal(summary.node.memory?.availableBytes, observed.signals['memory.available']?.available);
    const web = summary.pods.find((p) => p.podRef.name === 'web-buscmd');
    assert.ok(web, JSON.stringify(summary.pods.map((p) => p.podRef)));
    assert.equal(web.containers[0]?.name, 'app');
    assert.ok((web.memory?.workingSetBytes ?? 0) > 0, 'the sim reports a working set for a running container');
    assert.ok(web.cpu?.usageCoreNanoSeconds !== undefined);
    const only = await remote.call('stats.summary', { onlyCpuAndMemory: true });
    assert.equal(only.summary.node.fs, undefined);
  });

  it('the pod workers and the sync pool answer queries; every actor reports its health', async () => {
    const { pods } = await remote.call('pods.list', {});
    const web = pods.find((p) => p.name === 'web-buscmd');
    assert.ok(web, 'the static pod is listed');
    assert.equal(web.lifecycle, 'syncing');
    const { worker } = await remote.call('pods.describe', { uid: web.uid });
    assert.equal(worker?.['lifecycle'], 'syncing');
    assert.deepEqual(await remote.call('pods.describe', { uid: 'no-such-pod' }), { worker: null });
    const pool = await remote.call('sync-pool.stats', {});
    assert.ok(pool.threads >= 1, `the pool has threads (${pool.threads})`);
    const { actors } = await remote.call('actors.health', {});
    assert.deepEqual(
      actors.map((a) => [a.actor, a.ok]),
      [
        ['pleg', true],
        ['probes', true],
        ['eviction', true],
        ['syncloop', true],
      ],
    );
  });

  it('refuses a body that does not match its request, with a code, and serves on', async () => {
    const refused = async (name: string, body: unknown, why: RegExp): Promise<void> => {
      await assert.rejects(remote.request(name, body), (err: unknown) => {
        assert.ok(err instanceof BusError, String(err));
        assert.equal(err.code, 'KTS_BUS_REMOTE');
        assert.equal(err.remoteCode, 'KTS_BUS_INVALID_REQUEST');
        assert.match(err.message, why);
        return true;
      });
    };
    await refused('pleg.configure', { relistPeriodMs: -1 }, /relistPeriodMs must be a number above 0/);
    await refused('pleg.configure', { relistPeriodMs: 'fast' }, /relistPeriodMs must be absent or a number/);
    await refused('pods.list', { all: true }, /all is not a field of this request/);
    await refused('pods.describe', null, /must be an object/);
    await refused(
      'probes.set-pod',
      {
        target: {
          uid: 'x',
          name: 'x',
          namespace: 'd',
          containers: [{ name: 'c', containerId: 'i', startedAt: 0, probes: [{ kind: 'sometimes', handler: {}, timing: {} }] }],
        },
      },
      /kind must be one of/,
    );
    await assert.rejects(remote.request('pleg.no-such-command', {}), (err: unknown) => err instanceof BusError && err.code === 'KTS_BUS_NO_RESPONDER');
    assert.equal((await remote.call('probes.stats', {})).workers, 0, 'the refused target was not taken');
    assert.equal((await remote.call('pleg.stats', {})).failedRelists, 0, 'the PLEG serves on');
  });
});
