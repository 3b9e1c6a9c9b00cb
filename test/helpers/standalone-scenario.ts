// The standalone kubelet scenario, run unchanged against the simulated runtime and containerd:
// static pods of every kind converge to the right phases in /pods (read over HTTPS with a client
// certificate, as users do), a container killed behind the kubelet's back is restarted, a
// crasher backs off, an edited manifest replaces its pod, a removed one is terminated and
// cleaned up, a bad manifest leaves no trace, and a kubelet restart restarts nothing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { cgroupV1Mounts, removeTree } from '../../src/native/cgroups.js';
import type { Pod } from '../../src/api/core-v1.js';
import { loadKubeletConfig } from '../../src/config/kubelet-config.js';
import { startKubelet, type Kubelet } from '../../src/kubelet.js';
import { createCa } from '../../src/native/certs.js';
import { connectCri, type CriClient } from '../../src/native/cri/index.js';
import { silentLogger } from '../../src/log.js';
import { pino } from 'pino';

/** KTS_TEST_LOG=FILE writes the kubelet's log there (debugging a failed scenario). */
const scenarioLogger = process.env['KTS_TEST_LOG']
  ? pino({ level: 'debug' }, pino.destination({ dest: process.env['KTS_TEST_LOG'], sync: true }))
  : silentLogger;
import { waitFor } from './cri-fixtures.js';
import { freePort } from './net.js';

export interface ScenarioRuntime {
  endpoint: string;
  image: string;
  close(): Promise<void>;
}

const pod = (name: string, image: string, spec: Record<string, unknown>): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { scenario: 'standalone' } },
    spec: {
      terminationGracePeriodSeconds: 1,
      ...spec,
      containers: (spec['containers'] as object[]).map((c) => ({ image, ...c })),
      ...(spec['initContainers'] ? { initContainers: (spec['initContainers'] as object[]).map((c) => ({ image, ...c })) } : {}),
    },
  });

export function standaloneScenario(
  label: string,
  opts: { longRunning: number; timeoutMs: number; open: () => Promise<ScenarioRuntime>; chaos?: { before?: () => void; after?: () => void } },
): void {
  describe(`standalone kubelet: ${label}`, () => {
    let rt: ScenarioRuntime;
    let dir: string;
    let manifests: string;
    let kubelet: Kubelet;
    let cri: CriClient;
    let argv: string[];
    let client: { cert: string; key: string; ca: string };
    let port: number;

    const get = (path: string, who: 'client' | 'none' = 'client', method = 'GET', body?: string): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, path, method, rejectUnauthorized: false, ...(who === 'client' ? { cert: client.cert, key: client.key } : {}) },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const pods = async (): Promise<Pod[]> => (JSON.parse((await get('/pods')).body) as { items: Pod[] }).items;
    const byName = async (name: string): Promise<Pod[]> => (await pods()).filter((p) => p.metadata.name === `${name}-node-s`);
    const until = <T>(what: string, fn: () => Promise<T | undefined>): Promise<T> => waitFor(what, fn, opts.timeoutMs, 200);

    before(async () => {
      rt = await opts.open();
      dir = mkdtempSync(join(tmpdir(), 'kts-standalone-'));
      manifests = join(dir, 'manifests');
      const ca = await createCa(join(dir, 'ca'));
      const c = await ca.issueClient('scenario-admin', ['system:masters']);
      client = { cert: readFileSync(c.certFile, 'utf8'), key: readFileSync(c.keyFile, 'utf8'), ca: readFileSync(ca.caFile, 'utf8') };
      const img = rt.image;
      const files: Record<string, string> = {
        'crasher.json': pod('crasher', img, { containers: [{ name: 'crash', command: ['sh', '-c', 'echo crashing; exit 2'] }] }),
        'init.json': pod('with-init', img, {
          initContainers: [
            { name: 'one', command: ['sh', '-c', 'echo one'] },
            { name: 'two', command: ['true'] },
          ],
          containers: [{ name: 'main', command: ['sleep', '3600'] }],
        }),
        'job-ok.json': pod('job-ok', img, { restartPolicy: 'OnFailure', containers: [{ name: 'once', command: ['sh', '-c', 'echo done'] }] }),
        'job-fail.json': pod('job-fail', img, { restartPolicy: 'Never', containers: [{ name: 'once', command: ['sh', '-c', 'exit 1'] }] }),
        'bad.yaml': 'apiVersion: v1\nkind: Pod\nmetadata: {name: Not_Valid}\nspec: {containers: [{name: c, image: x}]}\n',
        'broken.yaml': 'this: [is not\n',
        'no-containers.yaml': 'apiVersion: v1\nkind: Pod\nmetadata: {name: empty}\nspec: {containers: []}\n',
        // Same name as crasher.json: the second holder of a name is refused.
        'zz-duplicate.json': pod('crasher', img, { containers: [{ name: 'dup', command: ['sleep', '3600'] }] }),
      };
      for (let i = 0; i < opts.longRunning; i++)
        files[`web-${i}.json`] = pod(`web-${i}`, img, { containers: [{ name: 'app', command: ['sh', '-c', `echo web ${i}; sleep 3600`] }] });
      (await import('node:fs')).mkdirSync(manifests);
      for (const [f, text] of Object.entries(files)) writeFileSync(join(manifests, f), text);
      port = await freePort();
      writeFileSync(join(dir, 'ca.crt'), client.ca);
      argv = [
        '--pod-manifest-path',
        manifests,
        '--container-runtime-endpoint',
        rt.endpoint,
        '--hostname-override',
        'node-s',
        '--root-dir',
        join(dir, 'root'),
        '--cert-dir',
        join(dir, 'pki'),
        '--port',
        String(port),
        '--healthz-port',
        '0',
        '--address',
        '127.0.0.1',
        '--client-ca-file',
        join(dir, 'ca.crt'),
        '--authorization-mode',
        'AlwaysAllow',
        '--file-check-frequency',
        '2s',
        '--crash-loop-backoff-initial',
        '2s',
        '--crash-loop-backoff-max',
        '8s',
        '--container-gc-period',
        '2s',
        // Hundreds of pods: above the default 110 that admission enforces.
        '--max-pods',
        '1000',
        // Pod cgroups (containerd) under a root of this scenario's own, removed in after().
        '--cgroup-root',
        `/${basename(dir)}`,
      ];
      kubelet = await startKubelet(loadKubeletConfig(argv).config, scenarioLogger);
      cri = connectCri(rt.endpoint);
    });

    after(async () => {
      cri?.close();
      await kubelet?.stop();
      // Leave nothing behind in the runtime.
      const c = connectCri(rt.endpoint);
      for (const s of (await c.ListPodSandbox({ filter: { labelSelector: { scenario: 'standalone' } } })).items) {
        await c.StopPodSandbox({ podSandboxId: s.id });
        await c.RemovePodSandbox({ podSandboxId: s.id });
      }
      c.close();
      await rt.close();
      for (const m of cgroupV1Mounts()) removeTree(join(m.mountPoint, basename(dir)));
      rmSync(dir, { recursive: true, force: true });
    });

    it('refuses /pods without a client certificate', async () => {
      assert.equal((await get('/pods', 'none')).status, 401);
    });

    it('brings every static pod to the right phase', async () => {
      const want: Record<string, string> = {
        'crasher-node-s': 'Running',
        'with-init-node-s': 'Running',
        'job-ok-node-s': 'Succeeded',
        'job-fail-node-s': 'Failed',
      };
      for (let i = 0; i < opts.longRunning; i++) want[`web-${i}-node-s`] = 'Running';
      let last: Record<string, string | undefined> = {};
      const got = await until('phases', async () => {
        const all = await pods();
        const phases = Object.fromEntries(all.map((p) => [p.metadata.name, p.status?.phase]));
        last = Object.fromEntries(
          Object.entries(want)
            .filter(([n, ph]) => phases[n] !== ph)
            .map(([n]) => [n, phases[n]]),
        );
        if (all.length !== Object.keys(want).length)
          last['(count)'] = all.map((p) => `${p.metadata.name}/${(p.metadata.uid ?? '').slice(0, 6)}/${p.status?.phase}`).join(' ');
        return Object.entries(want).every(([n, ph]) => phases[n] === ph) && all.length === Object.keys(want).length ? all : undefined;
      }).catch((err: Error) => assert.fail(`${err.message}; off: ${JSON.stringify(last)}`));
      const init = got.find((p) => p.metadata.name === 'with-init-node-s')!;
      assert.equal(init.status?.conditions?.find((c) => c.type === 'Initialized')?.status, 'True');
      assert.deepEqual(
        init.status?.initContainerStatuses?.map((s) => s.state.terminated?.reason),
        ['Completed', 'Completed'],
      );
      const web = got.find((p) => p.metadata.name === 'web-0-node-s')!;
      assert.equal(web.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
      assert.match(web.status?.podIP ?? '', /^10\./);
      assert.equal(web.metadata.annotations?.['kubernetes.io/config.source'], 'file');
      assert.equal(got.find((p) => p.metadata.name === 'job-fail-node-s')?.status?.containerStatuses?.[0]?.state.terminated?.exitCode, 1);
      assert.ok(!got.some((p) => /not_valid|broken|empty/i.test(p.metadata.name ?? '')), 'bad manifests leave no trace in /pods');
      const crashers = got.filter((p) => p.metadata.name === 'crasher-node-s');
      assert.equal(crashers.length, 1, 'a duplicate name is refused');
      assert.equal(crashers[0]?.spec.containers[0]?.name, 'crash', 'the first holder keeps the name');
      const logs = await get('/containerLogs/default/web-0-node-s/app');
      assert.equal(logs.body, 'web 0\n');
    });

    it('shows the crasher in CrashLoopBackOff with growing restarts', async () => {
      const p = await until('CrashLoopBackOff', async () => {
        const [c] = await byName('crasher');
        const cs = c?.status?.containerStatuses?.[0];
        return cs?.state.waiting?.reason === 'CrashLoopBackOff' && cs.restartCount >= 2 ? c : undefined;
      });
      const cs = p.status!.containerStatuses![0]!;
      assert.equal(cs.lastState.terminated?.exitCode, 2);
      assert.match(cs.state.waiting?.message ?? '', /^back-off \d+s restarting failed container=crash/);
      // The delays grow (2 s doubling to the 8 s cap here): after the r-th restart the back-off
      // is min(2^r, 8) s, so at restartCount >= 2 it has grown past the first 2 s. (Waiting for
      // a longer message raced the cap: the crasher may already be there when this test looks.)
      const delayOf = (x: Pod | undefined): number =>
        Number(/^back-off (\d+)s/.exec(x?.status?.containerStatuses?.[0]?.state.waiting?.message ?? '')?.[1] ?? 0);
      const first = delayOf(p);
      assert.equal(first, Math.min(2 ** cs.restartCount, 8), `back-off after restart ${cs.restartCount}`);
      assert.ok(first > 2, 'grown past the initial delay');
      // Container GC keeps one dead container per container name, not one per crash.
      await until('dead crashers collected', async () => {
        const dead = await cri.ListContainers({
          filter: { labelSelector: { 'io.kubernetes.pod.uid': p.metadata.uid!, 'io.kubernetes.container.name': 'crash' } },
        });
        return dead.containers.length <= 2 ? true : undefined;
      });
    });

    it('restarts a container killed behind its back with restartCount + 1', async () => {
      const [web] = await byName('web-1');
      const before = web!.status!.containerStatuses![0]!;
      const id = before.containerID!.split('://')[1]!;
      await cri.StopContainer({ containerId: id, timeout: 0 });
      const after = await until('restarted', async () => {
        const [p] = await byName('web-1');
        const cs = p?.status?.containerStatuses?.[0];
        return cs?.restartCount === before.restartCount + 1 && cs.state.running ? cs : undefined;
      });
      assert.notEqual(after.containerID, before.containerID);
      assert.equal(after.lastState.terminated?.exitCode, 137);
    });

    it('replaces a pod whose manifest changed, and terminates and cleans up a removed one', async () => {
      const [old] = await byName('web-0');
      writeFileSync(
        join(manifests, 'web-0.json'),
        pod('web-0', rt.image, { containers: [{ name: 'app', command: ['sh', '-c', 'echo web 0 v2; sleep 3600'] }] }),
      );
      await until('new web-0 running', async () => {
        const list = await byName('web-0');
        return list.length === 1 && list[0]!.metadata.uid !== old!.metadata.uid && list[0]!.status?.phase === 'Running' ? true : undefined;
      });
      const oldLeft = await cri.ListPodSandbox({ filter: { labelSelector: { 'io.kubernetes.pod.uid': old!.metadata.uid! } } });
      assert.equal(oldLeft.items.length, 0, 'the old pod sandbox is removed');
      assert.equal((await get('/containerLogs/default/web-0-node-s/app')).body, 'web 0 v2\n');

      const [gone] = await byName('with-init');
      assert.ok(gone, 'with-init is there before its manifest goes');
      unlinkSync(join(manifests, 'init.json'));
      await until('with-init gone', async () => ((await byName('with-init')).length === 0 ? true : undefined));
      await until('its sandbox removed', async () =>
        (await cri.ListPodSandbox({ filter: { labelSelector: { 'io.kubernetes.pod.uid': gone.metadata.uid! } } })).items.length === 0 ? true : undefined,
      );
    });

    it('runs a pod submitted to its endpoint, and refuses a bad one', async () => {
      const bad = await get('/static-pods', 'client', 'POST', 'apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: []}\n');
      assert.equal(bad.status, 400);
      assert.match(bad.body, /at least one container/);
      assert.equal((await get('/static-pods', 'none', 'POST', '{}')).status, 401, 'submitting needs authentication');
      const ok = await get('/static-pods', 'client', 'POST', pod('submitted', rt.image, { containers: [{ name: 'app', command: ['sleep', '3600'] }] }));
      assert.equal(ok.status, 201, ok.body);
      const p = await until('submitted pod running', async () => {
        const [x] = await byName('submitted');
        return x?.status?.phase === 'Running' ? x : undefined;
      });
      assert.equal(p.metadata.annotations?.['kubernetes.io/config.source'], 'api-submit');
    });

    it('restarts without restarting containers or duplicating sandboxes', async () => {
      const list = async (): Promise<{ sandboxes: string[]; running: string[] }> => {
        const s = await cri.ListPodSandbox({ filter: { state: { state: 'SANDBOX_READY' }, labelSelector: { scenario: 'standalone' } } });
        const c = await cri.ListContainers({ filter: { state: { state: 'CONTAINER_RUNNING' } } });
        return {
          sandboxes: s.items.map((x) => x.id).sort(),
          running: c.containers
            .filter((x) => x.labels['io.kubernetes.container.name'] !== 'crash')
            .map((x) => x.id)
            .sort(),
        };
      };
      const before = await list();
      await kubelet.stop();
      kubelet = await startKubelet(loadKubeletConfig(argv).config, scenarioLogger);
      await until('statuses back', async () => ((await byName('web-1'))[0]?.status?.phase === 'Running' ? true : undefined));
      await new Promise((r) => setTimeout(r, 3000)); // a few relists and syncs
      const after = await list();
      const diff = (a: string[], b: string[]): string =>
        `gone ${a.filter((x) => !b.includes(x)).length}, new ${b.filter((x) => !a.includes(x)).length} of ${a.length}`;
      assert.deepEqual(after.sandboxes, before.sandboxes, `same sandboxes: ${diff(before.sandboxes, after.sandboxes)}`);
      assert.deepEqual(after.running, before.running, `same running containers: ${diff(before.running, after.running)}`);
    });

    it('keeps a submitted pod across the restart, and removes it on DELETE', async () => {
      assert.equal((await byName('submitted'))[0]?.status?.phase, 'Running');
      assert.equal((await get('/static-pods/default/submitted', 'client', 'DELETE')).status, 200);
      await until('submitted pod gone', async () => ((await byName('submitted')).length === 0 ? true : undefined));
      assert.equal((await get('/static-pods/default/submitted', 'client', 'DELETE')).status, 404);
    });

    it('exposes upstream metrics that pass promtool check metrics', async () => {
      const text = (await get('/metrics')).body;
      for (const m of [
        'kubelet_running_pods',
        'kubelet_pleg_relist_duration_seconds_bucket',
        'kubelet_pod_worker_duration_seconds_bucket',
        'kubelet_runtime_operations_total{operation_type="list_podsandbox"}',
        'kubelet_node_name{node="node-s"} 1',
      ]) {
        assert.ok(text.includes(m), `metric ${m}`);
      }
      const { spawnSync } = await import('node:child_process');
      const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.ok(!r.error, `promtool is needed (apt-get install prometheus): ${r.error?.message ?? ''}`);
      assert.equal(r.status, 0, `promtool check metrics: ${r.stdout}${r.stderr}`);
    });

    it('recovers from a pool thread killed mid-syncs and from runtime errors, keeping the invariants', async () => {
      opts.chaos?.before?.();
      // Make every pod sync at once (a kill behind the kubelet's back in each of three pods),
      // then kill a pool thread while those syncs run.
      const victims = (await pods()).filter((p) => /^web-[2-4]-node-s$/.test(p.metadata.name ?? ''));
      const restarts = new Map(victims.map((p) => [p.metadata.name, p.status!.containerStatuses![0]!.restartCount]));
      for (const v of victims) await cri.StopContainer({ containerId: v.status!.containerStatuses![0]!.containerID!.split('://')[1]!, timeout: 0 });
      await kubelet.pool.run({ type: 'crash' }).result.catch(() => undefined);
      // And the PLEG thread dies too: it is restarted and rebuilds its view with a full relist.
      const generation = kubelet.pleg.generation;
      await kubelet.pleg.kill();
      await until('PLEG restarted', () => Promise.resolve(kubelet.pleg.generation > generation ? true : undefined));
      await until('victims restarted', async () => {
        const now = await pods();
        return victims.every((v) => {
          const p = now.find((x) => x.metadata.name === v.metadata.name);
          const cs = p?.status?.containerStatuses?.[0];
          return cs?.state.running && cs.restartCount > (restarts.get(v.metadata.name) ?? 0);
        })
          ? true
          : undefined;
      });
      opts.chaos?.after?.();
      // A sync that throws (as a bug would) holds back its own pod only, which converges after
      // the error backoff; the others are untouched.
      const [thrower] = await byName('web-5');
      const throwerRestarts = thrower!.status!.containerStatuses![0]!.restartCount;
      kubelet.workers.injectedSyncErrors.set(thrower!.metadata.uid!, 1);
      await cri.StopContainer({ containerId: thrower!.status!.containerStatuses![0]!.containerID!.split('://')[1]!, timeout: 0 });
      // Twice the usual wait: the thrown sync costs an error back-off (10-15 s) on top of the
      // crash back-off, on a node still busy with the chaos above.
      await waitFor(
        'web-5 restarted after its sync threw',
        async () => {
          const cs = (await byName('web-5'))[0]?.status?.containerStatuses?.[0];
          return cs?.state.running && cs.restartCount > throwerRestarts ? true : undefined;
        },
        2 * opts.timeoutMs,
        200,
      ).catch((err: Error) => {
        // Say what the worker was doing, so a rare timeout can be understood from the CI log.
        const uid = thrower!.metadata.uid!;
        assert.fail(
          `${err.message}; worker: ${JSON.stringify(kubelet.workers.describe(uid))}; injected left: ${kubelet.workers.injectedSyncErrors.get(uid)}; status: ${JSON.stringify(kubelet.workers.statusOf(uid)?.containerStatuses)}`,
        );
      });
      assert.equal(kubelet.workers.injectedSyncErrors.get(thrower!.metadata.uid!), 0, 'the injected throw happened');
      // Invariant: at most one sandbox per pod UID and attempt, one running container per name.
      const sandboxes = (await cri.ListPodSandbox({ filter: { labelSelector: { scenario: 'standalone' } } })).items;
      const keys = sandboxes.map((x) => `${x.metadata?.uid}/${x.metadata?.attempt}`);
      assert.equal(new Set(keys).size, keys.length, 'no duplicate sandbox for a UID and attempt');
      const running = (await cri.ListContainers({ filter: { state: { state: 'CONTAINER_RUNNING' } } })).containers;
      const perPod = running.map((c) => `${c.labels['io.kubernetes.pod.uid']}/${c.labels['io.kubernetes.container.name']}`);
      assert.equal(new Set(perPod).size, perPod.length, 'no duplicate running container');
      // Everything desired converges again.
      await until('all web pods running', async () =>
        (await pods()).filter((p) => p.metadata.name?.startsWith('web-') && p.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.state.running)
          .length === opts.longRunning
          ? true
          : undefined,
      );
    });
  });
}
