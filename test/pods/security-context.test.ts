// Pod and container security contexts to CRI (LinuxContainerSecurityContext and the sandbox's),
// sysctls, seccomp, procMount and the runAsNonRoot check, as upstream's kuberuntime maps them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Container, Pod } from '../../src/api/core-v1.js';
import { containerConfigFor, sandboxConfigFor } from '../../src/pods/cri-config.js';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, runAsNonRootViolation } from '../../src/pods/security-context.js';

function podOf(sc: Record<string, unknown> | undefined, csc: Record<string, unknown> | undefined, extra: Partial<Pod['spec']> = {}): Pod {
  const c: Container = { name: 'c', image: 'busybox', ...(csc ? { securityContext: csc } : {}) };
  return { metadata: { name: 'p', namespace: 'ns', uid: 'u1' }, spec: { containers: [c], ...(sc ? { securityContext: sc } : {}), ...extra } };
}

function containerSc(p: Pod): NonNullable<NonNullable<ReturnType<typeof containerConfigFor>['linux']>['securityContext']> {
  return containerConfigFor(p, p.spec.containers[0]!, { restartCount: 0, seccompProfileRoot: '/var/lib/kts/seccomp' }).linux!.securityContext!;
}

describe('container security context to CRI', () => {
  it('defaults: unprivileged, no user, default masked and read-only paths, Unconfined seccomp', () => {
    const sc = containerSc(podOf(undefined, undefined));
    assert.deepEqual(sc, {
      namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
      privileged: false,
      readonlyRootfs: false,
      supplementalGroups: [],
      noNewPrivs: false,
      maskedPaths: [
        '/proc/acpi',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/proc/scsi',
        '/sys/firmware',
      ],
      readonlyPaths: ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
      seccomp: { profileType: 'Unconfined', localhostRef: '' },
      seccompProfilePath: 'unconfined',
    });
  });

  it('pod-level user settings apply unless the container overrides them; fsGroup then supplementalGroups', () => {
    const sc = containerSc(podOf({ runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000, 5000] }, { runAsUser: 1001 }));
    assert.deepEqual(sc.runAsUser, { value: 1001 });
    assert.deepEqual(sc.runAsGroup, { value: 3000 });
    assert.deepEqual(sc.supplementalGroups, [2000, 4000, 5000]);
  });

  it('privileged, read-only root, capabilities, no_new_privs only when allowPrivilegeEscalation is false', () => {
    const sc = containerSc(
      podOf(undefined, {
        privileged: true,
        readOnlyRootFilesystem: true,
        capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] },
        allowPrivilegeEscalation: false,
      }),
    );
    assert.equal(sc.privileged, true);
    assert.equal(sc.readonlyRootfs, true);
    assert.deepEqual(sc.capabilities, { addCapabilities: ['NET_ADMIN'], dropCapabilities: ['ALL'] });
    assert.equal(sc.noNewPrivs, true);
    assert.equal(containerSc(podOf(undefined, { allowPrivilegeEscalation: true })).noNewPrivs, false);
  });

  it('procMount Unmasked clears the masked and read-only paths', () => {
    const sc = containerSc(podOf(undefined, { procMount: 'Unmasked' }));
    assert.deepEqual(sc.maskedPaths, []);
    assert.deepEqual(sc.readonlyPaths, []);
    assert.deepEqual(containerSc(podOf(undefined, { procMount: 'Default' })).maskedPaths, [...DEFAULT_MASKED_PATHS]);
    assert.deepEqual(containerSc(podOf(undefined, { procMount: 'Default' })).readonlyPaths, [...DEFAULT_READONLY_PATHS]);
  });

  const seccomp: [string, Record<string, unknown> | undefined, Record<string, unknown> | undefined, { profileType: string; localhostRef: string }, string][] = [
    ['pod RuntimeDefault', { seccompProfile: { type: 'RuntimeDefault' } }, undefined, { profileType: 'RuntimeDefault', localhostRef: '' }, 'runtime/default'],
    [
      'container Unconfined over pod RuntimeDefault',
      { seccompProfile: { type: 'RuntimeDefault' } },
      { seccompProfile: { type: 'Unconfined' } },
      { profileType: 'Unconfined', localhostRef: '' },
      'unconfined',
    ],
    [
      'Localhost under <root-dir>/seccomp',
      undefined,
      { seccompProfile: { type: 'Localhost', localhostProfile: 'profiles/audit.json' } },
      { profileType: 'Localhost', localhostRef: '/var/lib/kts/seccomp/profiles/audit.json' },
      'localhost//var/lib/kts/seccomp/profiles/audit.json',
    ],
    [
      'Localhost without a profile name: Unconfined',
      undefined,
      { seccompProfile: { type: 'Localhost' } },
      { profileType: 'Unconfined', localhostRef: '' },
      'unconfined',
    ],
  ];
  for (const [name, psc, csc, want, path] of seccomp) {
    it(`seccomp: ${name}`, () => {
      const sc = containerSc(podOf(psc, csc));
      assert.deepEqual(sc.seccomp, want);
      assert.equal(sc.seccompProfilePath, path);
    });
  }
});

describe('sandbox security context and sysctls', () => {
  it('the pause container gets the pod user and groups, privileged when any container is, the sysctls', () => {
    const p = podOf(
      {
        runAsUser: 1000,
        runAsGroup: 3000,
        fsGroup: 2000,
        sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }],
        seccompProfile: { type: 'RuntimeDefault' },
      },
      { privileged: true },
      { hostPID: true },
    );
    const linux = sandboxConfigFor(p, { attempt: 0 }).linux!;
    assert.deepEqual(linux.sysctls, { 'net.ipv4.ip_unprivileged_port_start': '0' });
    assert.deepEqual(linux.securityContext, {
      namespaceOptions: { network: 'POD', pid: 'NODE', ipc: 'POD' },
      privileged: true,
      supplementalGroups: [2000],
      seccomp: { profileType: 'RuntimeDefault', localhostRef: '' },
      seccompProfilePath: 'runtime/default',
      runAsUser: { value: 1000 },
      runAsGroup: { value: 3000 },
    });
  });

  it('host namespaces', () => {
    const p = podOf(undefined, undefined, { hostNetwork: true, hostIPC: true, hostPID: true });
    assert.deepEqual(sandboxConfigFor(p, { attempt: 0 }).linux?.securityContext?.namespaceOptions, { network: 'NODE', pid: 'NODE', ipc: 'NODE' });
    assert.deepEqual(containerSc(p).namespaceOptions, { network: 'NODE', pid: 'NODE', ipc: 'NODE' });
    assert.equal(sandboxConfigFor(p, { attempt: 0 }).hostname, '');
  });
});

describe('runAsNonRoot (upstream verifyRunAsNonRoot)', () => {
  const cases: [string, Record<string, unknown> | undefined, Record<string, unknown> | undefined, { uid?: number; username?: string }, string | undefined][] = [
    ['not asked', undefined, undefined, {}, undefined],
    [
      'image names no user: root',
      { runAsNonRoot: true },
      undefined,
      {},
      'container has runAsNonRoot and image will run as root (pod: "p_ns(u1)", container: c)',
    ],
    ['image uid 0', undefined, { runAsNonRoot: true }, { uid: 0 }, 'container has runAsNonRoot and image will run as root (pod: "p_ns(u1)", container: c)'],
    ['image uid 1000', { runAsNonRoot: true }, undefined, { uid: 1000 }, undefined],
    [
      'image user name',
      { runAsNonRoot: true },
      undefined,
      { username: 'nobody' },
      'container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user is non-root (pod: "p_ns(u1)", container: c)',
    ],
    [
      'runAsUser 0',
      { runAsNonRoot: true, runAsUser: 0 },
      undefined,
      { uid: 1000 },
      'container\'s runAsUser breaks non-root policy (pod: "p_ns(u1)", container: c)',
    ],
    ['runAsUser 1000 over a root image', { runAsNonRoot: true }, { runAsUser: 1000 }, {}, undefined],
    ['container turns it off', { runAsNonRoot: true }, { runAsNonRoot: false }, {}, undefined],
  ];
  for (const [name, psc, csc, image, want] of cases) {
    it(name, () => {
      const p = podOf(psc, csc);
      assert.equal(runAsNonRootViolation(p, p.spec.containers[0]!, image), want);
    });
  }
});
