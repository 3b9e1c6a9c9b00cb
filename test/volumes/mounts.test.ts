// volumeMounts -> CRI mounts (pure): host paths, read-only rules, subPath checks, propagation,
// and cri-config putting them (and resolved env) into the ContainerConfig.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Container, Pod } from '../../src/api/core-v1.js';
import { containerConfigFor } from '../../src/pods/cri-config.js';
import { ContainerMountError } from '../../src/volumes/errors.js';
import { containerMounts, type PodVolumes } from '../../src/volumes/mounts.js';
import { containerInputs } from '../../src/volumes/prepared.js';

const volumes: PodVolumes = {
  data: { hostPath: '/var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/data', readOnly: false },
  creds: { hostPath: '/var/lib/kubelet/pods/u/volumes/kubernetes.io~secret/creds', readOnly: true },
  host: { hostPath: '/srv/shared', readOnly: false, subPathErrors: { evil: 'subpath "/etc" not within volume path "/srv/shared"' } },
};

function c(volumeMounts: NonNullable<Container['volumeMounts']>, privileged = false): Container {
  const container: Container = { name: 'app', image: 'busybox', volumeMounts };
  if (privileged) container.securityContext = { privileged: true };
  return container;
}

describe('container mounts', () => {
  it('maps each volumeMount to its volume host path with upstream read-only rules', () => {
    const m = containerMounts(
      c([
        { name: 'data', mountPath: '/data' },
        { name: 'data', mountPath: '/data-ro', readOnly: true },
        { name: 'creds', mountPath: '/etc/creds' },
      ]),
      volumes,
    );
    assert.deepEqual(m, [
      { containerPath: '/data', hostPath: volumes['data']!.hostPath, readonly: false, selinuxRelabel: false, propagation: 'PROPAGATION_PRIVATE' },
      { containerPath: '/data-ro', hostPath: volumes['data']!.hostPath, readonly: true, selinuxRelabel: false, propagation: 'PROPAGATION_PRIVATE' },
      { containerPath: '/etc/creds', hostPath: volumes['creds']!.hostPath, readonly: true, selinuxRelabel: false, propagation: 'PROPAGATION_PRIVATE' },
    ]);
  });

  it('joins subPath after upstream checks; refused subPaths carry the volume manager reason', () => {
    const [m] = containerMounts(c([{ name: 'data', mountPath: '/logs', subPath: 'app/./logs' }]), volumes);
    assert.equal(m?.hostPath, `${volumes['data']!.hostPath}/app/logs`);
    const err = (mounts: NonNullable<Container['volumeMounts']>): string => {
      try {
        containerMounts(c(mounts), volumes);
      } catch (e) {
        assert.ok(e instanceof ContainerMountError);
        assert.equal(e.code, 'KTS_VOLUME_CONTAINER_MOUNT');
        return e.message;
      }
      return assert.fail('expected an error');
    };
    assert.equal(err([{ name: 'data', mountPath: '/x', subPath: '/etc' }]), 'error SubPath `/etc` must not be an absolute path');
    assert.equal(err([{ name: 'data', mountPath: '/x', subPath: 'a/../../etc' }]), "unable to provision SubPath `a/../../etc`: must not contain '..'");
    assert.equal(err([{ name: 'host', mountPath: '/x', subPath: 'evil' }]), 'subpath "/etc" not within volume path "/srv/shared"');
    assert.equal(err([{ name: 'nope', mountPath: '/x' }]), 'cannot find volume "nope" to mount into container "app"');
  });

  it('maps mountPropagation; Bidirectional only for privileged containers', () => {
    const modes = (p: string, privileged = false) =>
      containerMounts(c([{ name: 'host', mountPath: '/h', mountPropagation: p }], privileged), volumes)[0]?.propagation;
    assert.equal(modes('None'), 'PROPAGATION_PRIVATE');
    assert.equal(modes('HostToContainer'), 'PROPAGATION_HOST_TO_CONTAINER');
    assert.equal(modes('Bidirectional', true), 'PROPAGATION_BIDIRECTIONAL');
    assert.throws(() => modes('Bidirectional'), /Bidirectional mount propagation is available only to privileged containers/);
    assert.throws(() => modes('Sideways'), /invalid MountPropagation mode: "Sideways"/);
  });

  it('cri-config puts the mounts and the resolved env into the ContainerConfig', () => {
    const pod: Pod = { metadata: { name: 'p', namespace: 'default', uid: 'u' }, spec: { containers: [] } };
    const container: Container = {
      ...c([{ name: 'creds', mountPath: '/etc/creds' }]),
      env: [
        { name: 'LITERAL', value: 'x' },
        { name: 'FROM', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
      ],
    };
    const plain = containerConfigFor(pod, container, { restartCount: 0 });
    assert.deepEqual(plain.mounts, [], 'no prepared volumes: no mounts, as before');
    assert.deepEqual(plain.envs, [{ key: 'LITERAL', value: 'x' }]);
    const inputs = containerInputs(container, {
      volumes,
      env: {
        app: {
          entries: [
            { name: 'LITERAL', value: 'x' },
            { name: 'FROM', value: 'decoded' },
          ],
        },
      },
    });
    const cfg = containerConfigFor(pod, container, { restartCount: 0, ...inputs });
    assert.equal(cfg.mounts?.[0]?.hostPath, volumes['creds']!.hostPath);
    assert.equal(cfg.mounts?.[0]?.readonly, true);
    assert.deepEqual(cfg.envs, [
      { key: 'LITERAL', value: 'x' },
      { key: 'FROM', value: 'decoded' },
    ]);
    assert.throws(
      () => containerInputs(container, { volumes, env: { app: { error: "couldn't find key k in Secret default/s" } } }),
      /couldn't find key k in Secret default\/s/,
    );
  });
});
