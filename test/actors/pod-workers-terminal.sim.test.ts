// A kill that carries a terminal status (what the eviction watcher will send): the pod reports
// Failed with that reason and message while it is killed, on a standalone kubelet with the
// embedded simulated runtime; its containers are stopped, and a plain kill of another pod
// reports no such status; an eviction's status (alone) carries nothing from the runtime.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessageOf } from '../../src/bus/index.js';
import { loadKubeletConfig } from '../../src/config/kubelet-config.js';
import { startKubelet, type Kubelet } from '../../src/kubelet.js';
import { silentLogger } from '../../src/log.js';
import { waitFor } from '../helpers/cri-fixtures.js';

describe('a kill with a terminal status', () => {
  let dir: string;
  let kubelet: Kubelet;
  const statuses: MessageOf<'pod.status'>[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kts-terminal-'));
    const manifests = join(dir, 'manifests');
    mkdirSync(manifests);
    for (const name of ['victim', 'bystander', 'alone'])
      writeFileSync(
        join(manifests, `${name}.yaml`),
        `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: default, uid: terminal-${name}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{name: app, image: busybox:1.35, command: [sleep, "3600"]}]\n`,
      );
    const argv = [
      '--pod-manifest-path',
      manifests,
      '--embedded-runtime',
      'sim',
      '--hostname-override',
      'term',
      '--root-dir',
      join(dir, 'root'),
      '--pod-logs-dir',
      join(dir, 'logs'),
      '--authorization-mode',
      'AlwaysAllow',
    ];
    kubelet = await startKubelet(loadKubeletConfig(argv).config, silentLogger, { serve: false });
    kubelet.bus.subscribe('pod.status', (m) => {
      statuses.push(m);
    });
  });

  after(async () => {
    await kubelet.stop({ runtime: 'stop' });
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports Failed/Evicted while the pod is killed; a plain kill does not', async () => {
    for (const uid of ['terminal-victim', 'terminal-bystander', 'terminal-alone'])
      await waitFor(`${uid} running`, () => (kubelet.workers.statusOf(uid)?.phase === 'Running' ? true : undefined), 30_000);
    kubelet.workers.remove('terminal-victim', 'evicted', 0, { phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' });
    kubelet.workers.remove('terminal-bystander', 'test removes it', 0);
    const evicted = await waitFor(
      'the evicted status published',
      () => statuses.find((s) => s.uid === 'terminal-victim' && s.status.phase === 'Failed' && s.status.reason === 'Evicted'),
      30_000,
    );
    assert.equal(evicted.status.message, 'The node was low on resource: memory.');
    await waitFor(
      'both workers gone',
      () => (!kubelet.workers.has('terminal-victim') && !kubelet.workers.has('terminal-bystander') ? true : undefined),
      30_000,
    );
    const last = statuses.filter((s) => s.uid === 'terminal-victim').at(-1);
    assert.equal(last?.status.reason, 'Evicted', 'the last status the victim reported is the eviction');
    assert.ok(
      last?.status.containerStatuses?.every((c) => c.state.terminated),
      'its containers are stopped',
    );
    assert.ok(
      statuses.filter((s) => s.uid === 'terminal-bystander').every((s) => s.status.reason === undefined),
      'the plain kill reports no terminal reason',
    );
  });

  it('an eviction status reported alone: phase, reason, message and start time, nothing from the runtime', async () => {
    const startTime = kubelet.workers.statusOf('terminal-alone')?.startTime;
    assert.ok(startTime);
    kubelet.workers.remove('terminal-alone', 'evicted', 0, {
      phase: 'Failed',
      reason: 'Evicted',
      message: 'The node was low on resource: memory. ',
      alone: true,
    });
    await waitFor('the worker gone', () => (!kubelet.workers.has('terminal-alone') ? true : undefined), 30_000);
    const after = statuses.filter((s) => s.uid === 'terminal-alone' && s.status.phase === 'Failed');
    assert.ok(after.length > 0);
    for (const s of after)
      assert.deepEqual(
        s.status,
        { phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory. ', startTime },
        'upstream 1.20: kubectl shows 0/1 Evicted',
      );
  });
});
