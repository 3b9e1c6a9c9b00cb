// Resources on real containerd: requests and limits reach the pod cgroup (kubepods/<qos>/pod<uid>
// under the test's own --cgroup-root) and the container's cgroup files, an allocation above the
// memory limit ends as OOMKilled, oom_score_adj is what containerd allows, and admission refuses
// pods above allocatable (OutOfcpu) and above max-pods (OutOfpods) with upstream's messages.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { startStaticNode, type StaticNode } from '../helpers/static-node.js';
import { waitFor } from '../helpers/cri-fixtures.js';
import { removeTree } from '../../src/native/cgroups.js';
import { LABEL_POD_UID } from '../../src/pods/runtime-state.js';

const ROOT = `/kts-test-res-${process.pid}`;
const CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids', 'cpuset', 'blkio', 'devices', 'freezer', 'systemd', 'unified'];
const host = (controller: string, path: string): string => `/sys/fs/cgroup/${controller}${path}`;

describe('resources and admission on containerd', () => {
  let node: StaticNode;
  const uidOf = (name: string): string => node.pod(name)?.metadata.uid ?? '';
  before(async () => {
    node = await startStaticNode({ runtime: 'containerd', args: ['--cgroup-root', ROOT, '--max-pods', '3'] });
  });
  after(async () => {
    await node?.close();
    // Everything this test's kubelet and runc made below its cgroup root.
    for (const c of CONTROLLERS) removeTree(host(c, ROOT));
  });

  it('writes limits to the pod cgroup and the container cgroup', async () => {
    node.writePod('limits', {
      containers: [
        { name: 'c', command: ['sh', '-c', 'sleep 3600'], resources: { requests: { cpu: '250m', memory: '32Mi' }, limits: { cpu: '500m', memory: '64Mi' } } },
      ],
    });
    const st = await node.waitStatus('limits', 'Running', (s) => s.phase === 'Running');
    assert.equal(st.qosClass, 'Burstable');
    const pod = `${ROOT}/kubepods/burstable/pod${uidOf('limits')}`;
    assert.equal(readFileSync(host('cpu', `${pod}/cpu.shares`), 'utf8').trim(), '256');
    assert.equal(readFileSync(host('cpu', `${pod}/cpu.cfs_quota_us`), 'utf8').trim(), '50000');
    assert.equal(readFileSync(host('cpu', `${pod}/cpu.cfs_period_us`), 'utf8').trim(), '100000');
    assert.equal(readFileSync(host('memory', `${pod}/memory.limit_in_bytes`), 'utf8').trim(), String(64 * 2 ** 20));
    assert.equal(readFileSync(host('cpu', `${ROOT}/kubepods/besteffort/cpu.shares`), 'utf8').trim(), '2');
    // The container itself (runc puts it below the pod cgroup, the sandbox's cgroup parent).
    const id = await node.containerId('limits', 'c');
    assert.equal(readFileSync(host('cpu', `${pod}/${id}/cpu.shares`), 'utf8').trim(), '256');
    assert.equal(readFileSync(host('cpu', `${pod}/${id}/cpu.cfs_quota_us`), 'utf8').trim(), '50000');
    assert.equal(readFileSync(host('memory', `${pod}/${id}/memory.limit_in_bytes`), 'utf8').trim(), String(64 * 2 ** 20));
    const procs = readFileSync(host('memory', `${pod}/${id}/cgroup.procs`), 'utf8').trim();
    assert.ok(procs.length > 0, 'the container process is in its cgroup');
    // From inside: the container sees its own cgroup's limits.
    const inside = await node.exec('limits', 'c', [
      'cat',
      '/sys/fs/cgroup/cpu/cpu.cfs_quota_us',
      '/sys/fs/cgroup/cpu/cpu.shares',
      '/sys/fs/cgroup/memory/memory.limit_in_bytes',
    ]);
    assert.equal(inside.stdout, `50000\n256\n${64 * 2 ** 20}\n`);
  });

  it('sends oom_score_adj and containerd (restrict_oom_score_adj) keeps it at or above its own', async () => {
    // Static pods are critical upstream, so the kubelet asks -997; this machine forbids lowering
    // the score, so containerd raises what it is sent to its own score.
    const adj = Number((await node.exec('limits', 'c', ['cat', '/proc/self/oom_score_adj'])).stdout.trim());
    assert.ok(Number.isInteger(adj) && adj >= -997 && adj <= 1000, `oom_score_adj ${adj}`);
    const st = await node.cri.ContainerStatus({ containerId: await node.containerId('limits', 'c'), verbose: true });
    const spec = JSON.parse(st.info['info'] ?? '{}') as { runtimeSpec?: { process?: { oomScoreAdj?: number } } };
    assert.equal(spec.runtimeSpec?.process?.oomScoreAdj, adj);
  });

  it('reports a container killed above its memory limit as OOMKilled', async () => {
    node.writePod('oom', {
      restartPolicy: 'Never',
      containers: [{ name: 'hog', command: ['sh', '-c', 'x=a; while true; do x=$x$x; done'], resources: { limits: { memory: '32Mi' } } }],
    });
    const st = await node.waitStatus('oom', 'Failed', (s) => s.phase === 'Failed', 90_000);
    const t = st.containerStatuses?.[0]?.state.terminated;
    assert.equal(t?.reason, 'OOMKilled');
    assert.equal(t?.exitCode, 137);
  });

  it('refuses a pod above allocatable cpu with OutOfcpu, and starts nothing for it', async () => {
    node.writePod('big', { containers: [{ name: 'c', command: ['sleep', '3600'], resources: { requests: { cpu: '1000' } } }] });
    const st = await node.waitStatus('big', 'Failed', (s) => s.phase === 'Failed');
    assert.equal(st.reason, 'OutOfcpu');
    // limits asked 250m of the node's cpus (oom is Failed and no longer counts).
    assert.match(st.message ?? '', /^Pod Node didn't have enough resource: cpu, requested: 1000000, used: 250, capacity: \d+$/);
    const ev = node.eventsOf('big', 'OutOfcpu');
    assert.equal(ev.length, 1);
    assert.equal(ev[0]?.eventType, 'Warning');
    assert.match(ev[0]?.message ?? '', /^Node didn't have enough resource: cpu, requested: 1000000, used: 250, capacity: \d+$/);
    const uid = uidOf('big');
    const sandboxes = await node.cri.ListPodSandbox({ filter: { labelSelector: { [LABEL_POD_UID]: uid } } });
    assert.equal(sandboxes.items.length, 0);
  });

  it("refuses a pod beyond max-pods with OutOfpods, and removes a gone pod's cgroup", async () => {
    node.writePod('fill', { containers: [{ name: 'c', command: ['sleep', '3600'] }] });
    await node.waitStatus('fill', 'Running', (s) => s.phase === 'Running');
    assert.ok(existsSync(host('cpu', `${ROOT}/kubepods/besteffort/pod${uidOf('fill')}`)));
    node.writePod('fill2', { containers: [{ name: 'c', command: ['sleep', '3600'] }] });
    await node.waitStatus('fill2', 'Running', (s) => s.phase === 'Running');
    node.writePod('extra', { containers: [{ name: 'c', command: ['sleep', '3600'] }] });
    const st = await node.waitStatus('extra', 'Failed', (s) => s.phase === 'Failed');
    assert.equal(st.reason, 'OutOfpods');
    assert.equal(st.message, "Pod Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3");
    assert.equal(node.eventsOf('extra', 'OutOfpods')[0]?.message, "Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3");

    const fillCgroup = host('cpu', `${ROOT}/kubepods/besteffort/pod${uidOf('fill')}`);
    node.removePod('fill');
    await waitFor('fill cgroup removed', () => (existsSync(fillCgroup) ? undefined : true), 60_000, 200);
    // In every hierarchy runc used, the cgroup2 'unified' one of this hybrid host included.
    for (const c of ['memory', 'pids', 'cpuset', 'devices', 'freezer', 'unified']) assert.equal(existsSync(fillCgroup.replace('/cpu/', `/${c}/`)), false, c);
  });
});
