// Admission against allocatable and max-pods (upstream GeneralPredicates resource fit): the
// reason and message a rejected pod gets, written out as upstream prints them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../../src/api/core-v1.js';
import { admit, admitPod, admitSysctls } from '../../src/pods/admission.js';

function podOf(name: string, requests?: Record<string, string>, limits?: Record<string, string>): Pod {
  const resources = { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) };
  return { metadata: { name, namespace: 'ns', uid: name }, spec: { containers: [{ name: 'c', image: 'busybox', resources }] } };
}

const allocatable = { cpu: '2', memory: '1Gi', pods: '3', 'ephemeral-storage': '10Gi' };

describe('admission', () => {
  it('admits a pod that fits and one without requests', () => {
    assert.deepEqual(admitPod(podOf('a', { cpu: '1', memory: '512Mi' }), [], allocatable), { admit: true });
    assert.deepEqual(admitPod(podOf('b'), [podOf('x', { cpu: '2' })], allocatable), { admit: true });
  });

  it('refuses cpu beyond allocatable minus the running pods (OutOfcpu, millicores)', () => {
    assert.deepEqual(admitPod(podOf('a', { cpu: '1500m' }), [podOf('x', { cpu: '1' })], allocatable), {
      admit: false,
      reason: 'OutOfcpu',
      message: "Node didn't have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000",
    });
  });

  it('limits count as requests when requests are left out (OutOfmemory, bytes)', () => {
    assert.deepEqual(admitPod(podOf('a', undefined, { memory: '2Gi' }), [], allocatable), {
      admit: false,
      reason: 'OutOfmemory',
      message: "Node didn't have enough resource: memory, requested: 2147483648, used: 0, capacity: 1073741824",
    });
  });

  it('refuses the pod beyond max-pods first (OutOfpods)', () => {
    const others = [podOf('x'), podOf('y'), podOf('z')];
    assert.deepEqual(admitPod(podOf('a', { cpu: '10' }), others, allocatable), {
      admit: false,
      reason: 'OutOfpods',
      message: "Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3",
    });
  });

  it('ephemeral-storage requests count too', () => {
    const r = admitPod(podOf('a', { 'ephemeral-storage': '11Gi' }), [], allocatable);
    assert.equal(r.admit, false);
    assert.equal(!r.admit && r.reason, 'OutOfephemeral-storage');
  });
});

describe('sysctl admission (upstream SysctlForbidden)', () => {
  const withSysctls = (names: string[], spec: Partial<Pod['spec']> = {}): Pod => ({
    metadata: { name: 's', namespace: 'ns', uid: 's' },
    spec: { containers: [{ name: 'c' }], securityContext: { sysctls: names.map((name) => ({ name, value: '1' })) }, ...spec },
  });
  it('admits the safe set and allowed unsafe ones (prefix with *)', () => {
    assert.deepEqual(admitSysctls(withSysctls(['kernel.shm_rmid_forced', 'net.ipv4.tcp_syncookies'])), { admit: true });
    assert.deepEqual(admitSysctls(withSysctls(['kernel.msgmax', 'net.core.somaxconn']), ['kernel.msgmax', 'net.core.*']), { admit: true });
  });
  it('refuses one not allowlisted, and net sysctls with the host network', () => {
    assert.deepEqual(admitSysctls(withSysctls(['kernel.msgmax'])), {
      admit: false,
      reason: 'SysctlForbidden',
      message: 'forbidden sysctl: "kernel.msgmax" not whitelisted',
    });
    assert.deepEqual(admitSysctls(withSysctls(['net.ipv4.tcp_syncookies'], { hostNetwork: true })), {
      admit: false,
      reason: 'SysctlForbidden',
      message: 'forbidden sysctl: "net.ipv4.tcp_syncookies" not allowed with host net enabled',
    });
    assert.deepEqual(admitSysctls(withSysctls(['kernel.shm_rmid_forced'], { hostIPC: true })), {
      admit: false,
      reason: 'SysctlForbidden',
      message: 'forbidden sysctl: "kernel.shm_rmid_forced" not allowed with host ipc enabled',
    });
  });
  it('runs before the resource fit', () => {
    const p = withSysctls(['kernel.msgmax']);
    p.spec.containers[0]!.resources = { requests: { cpu: '100' } };
    assert.equal((admit(p, [], allocatable) as { reason: string }).reason, 'SysctlForbidden');
  });
});
