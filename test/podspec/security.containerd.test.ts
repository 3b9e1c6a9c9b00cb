// Security contexts on real containerd: each setting as the container sees it (`id`,
// /proc/self/status, a write to a read-only root, devices, masked /proc paths, sysctls,
// seccomp profiles), and runAsNonRoot refusing the root busybox image with upstream's message.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStaticNode, type StaticNode } from '../helpers/static-node.js';

function statusField(status: string, field: string): string {
  return new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? `(no ${field})`;
}

describe('security context on containerd', () => {
  let node: StaticNode;
  const sleeper = { command: ['sh', '-c', 'sleep 3600'] };
  before(async () => {
    node = await startStaticNode({ runtime: 'containerd' });
    node.writePod('ids', {
      securityContext: { runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000] },
      containers: [
        { name: 'pod-level', ...sleeper },
        { name: 'own-user', ...sleeper, securityContext: { runAsUser: 1001 } },
      ],
    });
    node.writePod('caps', {
      containers: [
        { name: 'default', ...sleeper },
        { name: 'dropped', ...sleeper, securityContext: { capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] }, allowPrivilegeEscalation: false } },
        { name: 'readonly', ...sleeper, securityContext: { readOnlyRootFilesystem: true } },
        { name: 'privileged', ...sleeper, securityContext: { privileged: true } },
        { name: 'unmasked', ...sleeper, securityContext: { procMount: 'Unmasked' } },
      ],
    });
  });
  after(async () => {
    await node?.close();
  });

  it('runs as runAsUser/runAsGroup with fsGroup and supplementalGroups; the container overrides the pod', async () => {
    await node.waitStatus('ids', 'Running', (s) => s.phase === 'Running' && (s.containerStatuses ?? []).every((c) => c.ready));
    assert.equal((await node.exec('ids', 'pod-level', ['id'])).stdout, 'uid=1000 gid=3000 groups=2000,3000,4000\n');
    assert.equal((await node.exec('ids', 'own-user', ['id'])).stdout, 'uid=1001 gid=3000 groups=2000,3000,4000\n');
  });

  it('capabilities, no_new_privs, seccomp off by default, read-only root, privileged devices, masked /proc', async () => {
    await node.waitStatus('caps', 'Running', (s) => s.phase === 'Running' && (s.containerStatuses ?? []).every((c) => c.ready));
    const status = async (c: string): Promise<string> => (await node.exec('caps', c, ['cat', '/proc/self/status'])).stdout;
    const def = await status('default');
    // containerd's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
    assert.equal(statusField(def, 'CapEff'), '00000000a80425fb');
    assert.equal(statusField(def, 'NoNewPrivs'), '0');
    assert.equal(statusField(def, 'Seccomp'), '0', 'no seccompProfile: Unconfined, as upstream v1.20');
    const dropped = await status('dropped');
    assert.equal(statusField(dropped, 'CapEff'), '0000000000001000', 'only NET_ADMIN');
    assert.equal(statusField(dropped, 'NoNewPrivs'), '1');

    const ro = await node.exec('caps', 'readonly', ['sh', '-c', 'touch /written'], { allowFail: true });
    assert.notEqual(ro.exitCode, 0);
    assert.match(ro.stderr, /Read-only file system/);
    assert.equal((await node.exec('caps', 'default', ['sh', '-c', 'touch /written && echo ok'])).stdout, 'ok\n');

    // A privileged container sees the host's devices; others only the runtime's few.
    assert.equal((await node.exec('caps', 'privileged', ['sh', '-c', 'test -e /dev/loop0 && echo yes'])).stdout, 'yes\n');
    assert.equal((await node.exec('caps', 'default', ['sh', '-c', 'test -e /dev/loop0 && echo yes || echo no'])).stdout, 'no\n');
    assert.notEqual(statusField(await status('privileged'), 'CapEff'), '00000000a80425fb');

    // Default procMount: /proc/timer_list is masked (bind of /dev/null); Unmasked shows it.
    assert.equal((await node.exec('caps', 'default', ['sh', '-c', 'wc -c < /proc/timer_list'])).stdout.trim(), '0');
    assert.ok(Number((await node.exec('caps', 'unmasked', ['sh', '-c', 'wc -c < /proc/timer_list'])).stdout.trim()) > 0);
    // /proc/sys is read-only by default.
    const sysWrite = await node.exec('caps', 'default', ['sh', '-c', 'echo 1 > /proc/sys/kernel/shm_rmid_forced'], { allowFail: true });
    assert.notEqual(sysWrite.exitCode, 0);
  });

  it('seccomp RuntimeDefault and Localhost (under <root-dir>/seccomp), and pod sysctls', async () => {
    const profiles = join(node.dir, 'root', 'seccomp', 'profiles');
    mkdirSync(profiles, { recursive: true });
    writeFileSync(
      join(profiles, 'no-mkdir.json'),
      JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }),
    );
    node.writePod('seccomp', {
      securityContext: { seccompProfile: { type: 'RuntimeDefault' }, sysctls: [{ name: 'kernel.shm_rmid_forced', value: '1' }] },
      containers: [
        { name: 'runtime-default', ...sleeper },
        { name: 'localhost', ...sleeper, securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: 'profiles/no-mkdir.json' } } },
        { name: 'unconfined', ...sleeper, securityContext: { seccompProfile: { type: 'Unconfined' } } },
      ],
    });
    await node.waitStatus('seccomp', 'Running', (s) => s.phase === 'Running' && (s.containerStatuses ?? []).every((c) => c.ready));
    const field = async (c: string): Promise<string> => statusField((await node.exec('seccomp', c, ['cat', '/proc/self/status'])).stdout, 'Seccomp');
    assert.equal(await field('runtime-default'), '2');
    assert.equal(await field('localhost'), '2');
    assert.equal(await field('unconfined'), '0');
    const mk = await node.exec('seccomp', 'localhost', ['mkdir', '/tmp/d'], { allowFail: true });
    assert.notEqual(mk.exitCode, 0);
    assert.match(mk.stderr, /Operation not permitted/);
    assert.equal((await node.exec('seccomp', 'runtime-default', ['sh', '-c', 'mkdir /tmp/d && echo ok'])).stdout, 'ok\n');
    assert.equal((await node.exec('seccomp', 'unconfined', ['cat', '/proc/sys/kernel/shm_rmid_forced'])).stdout, '1\n');
  });

  it('fsGroup owns the emptyDir and downwardAPI volumes: group, setgid, readable by the pod user', async () => {
    node.writePod('fsgroup', {
      securityContext: { runAsUser: 1000, fsGroup: 2000 },
      volumes: [
        { name: 'scratch', emptyDir: {} },
        { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
      ],
      containers: [
        {
          name: 'c',
          ...sleeper,
          volumeMounts: [
            { name: 'scratch', mountPath: '/scratch' },
            { name: 'info', mountPath: '/info' },
          ],
        },
      ],
    });
    await node.waitStatus('fsgroup', 'Running', (s) => s.phase === 'Running' && (s.containerStatuses ?? []).every((c) => c.ready));
    assert.equal((await node.exec('fsgroup', 'c', ['stat', '-c', '%g %A', '/scratch'])).stdout, '2000 drwxrwsrwx\n');
    assert.equal((await node.exec('fsgroup', 'c', ['sh', '-c', 'touch /scratch/f && stat -c "%u %g" /scratch/f'])).stdout, '1000 2000\n');
    assert.equal((await node.exec('fsgroup', 'c', ['stat', '-L', '-c', '%g %A', '/info/labels'])).stdout, '2000 -rw-r--r--\n');
    assert.equal((await node.exec('fsgroup', 'c', ['stat', '-c', '%g', '/info'])).stdout, '2000\n');
    assert.match((await node.exec('fsgroup', 'c', ['cat', '/info/labels'])).stdout, /kts-test="static-node"/);
  });

  it('runAsNonRoot refuses the root busybox image with CreateContainerConfigError', async () => {
    node.writePod('nonroot', {
      securityContext: { runAsNonRoot: true },
      containers: [
        { name: 'root-image', ...sleeper },
        { name: 'as-1000', ...sleeper, securityContext: { runAsUser: 1000 } },
      ],
    });
    const uid = (): string => node.pod('nonroot')?.metadata.uid ?? '';
    const st = await node.waitStatus(
      'nonroot',
      'refused',
      (s) =>
        s.containerStatuses?.find((c) => c.name === 'root-image')?.state.waiting?.reason === 'CreateContainerConfigError' &&
        s.containerStatuses.find((c) => c.name === 'as-1000')?.state.running !== undefined,
    );
    const waiting = st.containerStatuses?.find((c) => c.name === 'root-image')?.state.waiting;
    assert.equal(
      waiting?.message,
      `container has runAsNonRoot and image will run as root (pod: "nonroot-${node.nodeName}_default(${uid()})", container: root-image)`,
    );
    assert.equal((await node.exec('nonroot', 'as-1000', ['id', '-u'])).stdout, '1000\n');
    const failed = node.eventsOf('nonroot', 'Failed').find((e) => e.container === 'root-image');
    assert.equal(
      failed?.message,
      `Error: container has runAsNonRoot and image will run as root (pod: "nonroot-${node.nodeName}_default(${uid()})", container: root-image)`,
    );
  });
});
