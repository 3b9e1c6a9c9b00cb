// The probe actor with its real worker thread, on the simulated runtime (exec probes through
// CRI over the thread's MessagePort): a tracked container gets its initial results, readiness
// follows a file in the container, a killed thread is restarted and rebuilds every target
// (results start over and come back), a changed spec reaches the thread and a failing liveness
// probe becomes a verdict, and forgetting a pod drops its results.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Pod } from '../../src/api/core-v1.js';
import { ProbeActor } from '../../src/actors/probes/handle.js';
import { Bus, type MessageOf } from '../../src/bus/index.js';
import { inspectPod } from '../../src/pods/sync.js';
import { waitFor } from '../helpers/cri-fixtures.js';
import { simHarness, type SimHarness } from '../sim/sim-fixtures.js';

describe('probe actor (real thread, simulated runtime)', () => {
  let h: SimHarness;
  let bus: Bus;
  let actor: ProbeActor;
  const results: MessageOf<'probe.result'>[] = [];
  const events: MessageOf<'pod.event'>[] = [];
  let pod: Pod;
  let containerId = '';

  before(async () => {
    h = await simHarness();
    bus = new Bus({ name: 'main' });
    actor = new ProbeActor({ runtime: { embedded: h.sim, name: 'sim' }, bus, onResult: (m) => void results.push(m), onEvent: (m) => void events.push(m) });
    actor.start();
    const c = await h.container(['sleep', 'infinity'], { name: 'app' });
    containerId = c.id;
    pod = {
      metadata: { name: c.pod.name, namespace: c.pod.namespace, uid: c.pod.uid },
      spec: {
        containers: [
          {
            name: 'app',
            image: 'busybox',
            readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 1, failureThreshold: 1 },
            livenessProbe: { exec: { command: ['true'] }, periodSeconds: 1, failureThreshold: 1 },
          },
        ],
      },
    };
  });
  after(async () => {
    await actor.stop();
    bus.close();
    await h.close();
  });

  it('a tracked container gets initial results, then readiness follows the probe', async () => {
    actor.track(pod, await inspectPod(h.cri, pod.metadata.uid ?? '', 'sim'));
    await waitFor('initial results', () => (results.length >= 2 ? true : undefined), 10_000);
    assert.deepEqual(
      results
        .slice(0, 2)
        .map((r) => [r.probe, r.result, r.containerId])
        .sort(),
      [
        ['liveness', 'success', containerId],
        ['readiness', 'failure', containerId],
      ],
    );
    const inputs = actor.statusInputs(pod.metadata.uid ?? '');
    assert.equal(inputs.ready?.('app', containerId), false);
    assert.equal(inputs.started?.('app', containerId), undefined, 'no startup probe: no opinion');
    await waitFor('Unhealthy event', () => events.find((e) => e.reason === 'Unhealthy'), 10_000);
    assert.match(events[0]?.message ?? '', /^Readiness probe failed: cat: can't open '\/tmp\/ready': No such file or directory/);
    await h.cri.ExecSync({ containerId, cmd: ['touch', '/tmp/ready'], timeout: 1 });
    await waitFor('ready', () => (inputs.ready?.('app', containerId) ? true : undefined), 10_000);
    // A result for another container ID does not count.
    assert.equal(inputs.ready?.('app', 'other-id'), false);
    const st = await actor.stats();
    assert.equal(st?.workers, 2);
    assert.ok((st?.completed ?? 0) > 0);
  });

  it('a killed thread is restarted and rebuilds its targets', async () => {
    const gen = actor.generation;
    const n = results.length;
    await actor.kill();
    await waitFor('restarted', () => (actor.generation > gen ? true : undefined), 10_000);
    // The new thread starts from initial results and probes again.
    await waitFor('results again', () => (results.slice(n).some((r) => r.probe === 'readiness' && r.result === 'success') ? true : undefined), 15_000);
    assert.ok(
      results.slice(n).some((r) => r.probe === 'readiness' && r.result === 'failure'),
      'readiness started over from failure',
    );
    assert.equal(actor.statusInputs(pod.metadata.uid ?? '').ready?.('app', containerId), true);
    assert.equal((await actor.stats())?.workers, 2);
  });

  it('a changed spec reaches the thread; a failing liveness probe becomes a verdict', async () => {
    const changed: Pod = structuredClone(pod);
    const c = changed.spec.containers[0]!;
    c.livenessProbe = { exec: { command: ['cat', '/tmp/alive'] }, periodSeconds: 1, failureThreshold: 1 };
    actor.track(changed, await inspectPod(h.cri, pod.metadata.uid ?? '', 'sim'));
    const verdicts = actor.verdicts(pod.metadata.uid ?? '');
    await waitFor('liveness failed', () => (verdicts.livenessFailed?.('app', containerId) ? true : undefined), 10_000);
    assert.equal(verdicts.startupFailed?.('app', containerId), false);
    assert.ok(events.some((e) => e.reason === 'Unhealthy' && e.message.startsWith('Liveness probe failed: ')));
  });

  it('a redirect to another host is a warning: ProbeWarning, and it counts as success', async () => {
    const server = http.createServer((_req, res) => {
      const port = (server.address() as AddressInfo).port;
      res.writeHead(302, { Location: `http://localhost:${port}/elsewhere` }).end('moved');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const c = await h.container(['sleep', 'infinity'], { name: 'web' });
      const web: Pod = {
        metadata: { name: c.pod.name, namespace: c.pod.namespace, uid: c.pod.uid },
        spec: { containers: [{ name: 'web', image: 'busybox', readinessProbe: { httpGet: { host: '127.0.0.1', port, path: '/' }, periodSeconds: 1 } }] },
      };
      actor.track(web, await inspectPod(h.cri, c.pod.uid, 'sim'));
      const inputs = actor.statusInputs(c.pod.uid);
      await waitFor('ready through a warning', () => (inputs.ready?.('web', c.id) ? true : undefined), 10_000);
      const warning = await waitFor('ProbeWarning', () => events.find((e) => e.reason === 'ProbeWarning' && e.uid === c.pod.uid), 10_000);
      assert.equal(warning.eventType, 'Warning');
      assert.equal(warning.message, 'Readiness probe warning: Probe terminated redirects, Response body: moved');
      actor.forget(c.pod.uid);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('forgetting a pod drops its results and its workers', async () => {
    const uid = pod.metadata.uid ?? '';
    actor.forget(uid);
    assert.equal(actor.verdicts(uid).livenessFailed?.('app', containerId), false);
    assert.equal(actor.statusInputs(uid).ready?.('app', containerId), undefined);
    await waitFor('no workers', async () => ((await actor.stats())?.workers === 0 ? true : undefined), 5000);
    assert.doesNotMatch(await actor.metricsText(), new RegExp(uid));
  });
});
