// Validation of the pod fields that become host paths (issue 16): metadata.uid of a static pod,
// volumeMounts[].subPath / subPathExpr, items[].path of configMap, secret, downwardAPI and
// projected volumes, each refused with upstream's field-error words; and the node's own gate for
// pods of every source (validatePodPathFields, applied by PodConfig).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, Volume, VolumeMount } from '../../src/api/core-v1.js';
import { PodConfig } from '../../src/pods/pod-config.js';
import { parseManifests, toStaticPod } from '../../src/pods/static-pod.js';
import { validatePod, validatePodPathFields } from '../../src/pods/validation.js';

const nodeOpts = { nodeName: 'node-v', source: 'file' as const, location: '/manifests/p.json' };

function pod(opts: { uid?: unknown; mounts?: VolumeMount[]; volumes?: Volume[] } = {}): Pod {
  return {
    metadata: { name: 'p', namespace: 'default', ...(opts.uid === undefined ? {} : { uid: opts.uid as string }) },
    spec: {
      volumes: opts.volumes ?? [{ name: 'data', emptyDir: {} }],
      containers: [{ name: 'app', image: 'busybox', volumeMounts: opts.mounts ?? [] }],
    },
  };
}

describe('validation: metadata.uid', () => {
  const message = "must consist of alphanumeric characters, '-', '_' or '.' (at most 128), and must not be '.' or '..'";
  for (const uid of ['/../../../tmp/victim', '..', '.', 'a/b', 'a\0b', 'x'.repeat(129), 'ünï', 'a b']) {
    it(`refuses ${JSON.stringify(uid)}`, () => {
      assert.deepEqual(validatePod(pod({ uid })), [`metadata.uid: Invalid value: ${JSON.stringify(uid)}: ${message}`]);
    });
  }

  it('refuses a uid that is not a string', () => {
    assert.deepEqual(validatePod(pod({ uid: 7 })), [`metadata.uid: Invalid value: 7: ${message}`]);
  });

  it('accepts UUIDs, md5 hex and the allowed punctuation', () => {
    for (const uid of ['0b6f7e0e-2a7e-4d4e-9c8a-1f2e3d4c5b6a', 'd41d8cd98f00b204e9800998ecf8427e', 'my_pod.v2-1', 'x'.repeat(128), '...']) {
      assert.deepEqual(validatePod(pod({ uid })), [], uid);
    }
  });

  it('a static manifest with such a uid is refused by name; without one the hashed uid is used', () => {
    const manifest = (uid?: string) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p', ...(uid ? { uid } : {}) },
        spec: { containers: [{ name: 'app', image: 'busybox' }] },
      });
    const [bad] = parseManifests(manifest('/../../../tmp/victim'), nodeOpts);
    assert.ok(bad && !bad.ok);
    assert.equal(bad.error, `invalid pod: metadata.uid: Invalid value: "/../../../tmp/victim": ${message}`);
    const good = toStaticPod(JSON.parse(manifest()), nodeOpts);
    assert.ok('pod' in good);
    assert.match(good.pod.metadata.uid ?? '', /^[0-9a-f]{32}$/);
  });
});

describe('validation: volumeMounts[].subPath and subPathExpr', () => {
  const at = 'spec.containers[0].volumeMounts[0]';
  const errs = (m: Partial<VolumeMount>) => validatePod(pod({ mounts: [{ name: 'data', mountPath: '/d', ...m }] }));

  it('refuses an absolute subPath: must be a relative path', () => {
    assert.deepEqual(errs({ subPath: '/etc' }), [`${at}.subPath: Invalid value: "/etc": must be a relative path`]);
  });

  it("refuses a '..' component: must not contain '..'", () => {
    assert.deepEqual(errs({ subPath: 'a/../../etc' }), [`${at}.subPath: Invalid value: "a/../../etc": must not contain '..'`]);
    assert.deepEqual(errs({ subPath: '..' }), [`${at}.subPath: Invalid value: "..": must not contain '..'`]);
  });

  it('reports both for /../..', () => {
    assert.deepEqual(errs({ subPath: '/../..' }), [
      `${at}.subPath: Invalid value: "/../..": must be a relative path`,
      `${at}.subPath: Invalid value: "/../..": must not contain '..'`,
    ]);
  });

  it('refuses NUL', () => {
    assert.deepEqual(errs({ subPath: 'a\0b' }), [`${at}.subPath: Invalid value: "a\\u0000b": must not contain NUL`]);
  });

  it('checks subPathExpr the same way, and refuses it beside subPath', () => {
    assert.deepEqual(errs({ subPathExpr: '/$(POD)' }), [`${at}.subPathExpr: Invalid value: "/$(POD)": must be a relative path`]);
    assert.deepEqual(errs({ subPathExpr: '$(POD)/..' }), [`${at}.subPathExpr: Invalid value: "$(POD)/..": must not contain '..'`]);
    assert.deepEqual(errs({ subPath: 'a', subPathExpr: 'b' }), [`${at}.subPathExpr: Invalid value: "b": subPathExpr and subPath are mutually exclusive`]);
  });

  it('accepts relative paths, names starting with .. included (they are no parent reference)', () => {
    for (const subPath of ['logs', 'app/./logs', '..data/x', 'a..b', '.']) assert.deepEqual(errs({ subPath }), [], subPath);
    assert.deepEqual(errs({ subPathExpr: '$(POD_NAME)/logs' }), []);
  });

  it('checks init containers too', () => {
    const p = pod();
    p.spec.initContainers = [{ name: 'init', image: 'busybox', volumeMounts: [{ name: 'data', mountPath: '/d', subPath: '../x' }] }];
    assert.deepEqual(validatePod(p), [`spec.initContainers[0].volumeMounts[0].subPath: Invalid value: "../x": must not contain '..'`]);
  });
});

describe('validation: items[].path of atomic-writer volumes', () => {
  const errs = (v: Record<string, unknown>) => validatePod(pod({ volumes: [{ name: 'data', ...v }] }));
  const items = (path: unknown) => ({ items: [{ key: 'k', path }] });

  for (const kind of ['configMap', 'secret'] as const) {
    it(`${kind}: must be a relative path, must not contain '..', must not start with '..', required`, () => {
      const at = `spec.volumes[0].${kind}.items[0].path`;
      const src = (path: unknown) => ({ [kind]: { [kind === 'secret' ? 'secretName' : 'name']: 'o', ...items(path) } });
      assert.deepEqual(errs(src('/etc/passwd')), [`${at}: Invalid value: "/etc/passwd": must be a relative path`]);
      assert.deepEqual(errs(src('a/../../b')), [`${at}: Invalid value: "a/../../b": must not contain '..'`]);
      assert.deepEqual(errs(src('..data')), [`${at}: Invalid value: "..data": must not start with '..'`]);
      assert.deepEqual(errs(src('..')), [`${at}: Invalid value: "..": must not contain '..'`, `${at}: Invalid value: "..": must not start with '..'`]);
      assert.deepEqual(errs(src('')), [`${at}: Required value`]);
      assert.deepEqual(errs(src('conf/app.yaml')), []);
    });
  }

  it('downwardAPI items', () => {
    const at = 'spec.volumes[0].downwardAPI.items[1].path';
    assert.deepEqual(
      errs({
        downwardAPI: {
          items: [
            { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
            { path: '/x', fieldRef: { fieldPath: 'metadata.name' } },
          ],
        },
      }),
      [`${at}: Invalid value: "/x": must be a relative path`],
    );
  });

  it('projected sources: configMap, secret, downwardAPI items and the token path', () => {
    const v = {
      projected: {
        sources: [
          { configMap: { name: 'c', ...items('../c') } },
          { secret: { name: 's', ...items('/s') } },
          {
            downwardAPI: {
              items: [
                { path: 'ok/name', fieldRef: { fieldPath: 'metadata.name' } },
                { path: 'x/../../y', fieldRef: { fieldPath: 'metadata.name' } },
              ],
            },
          },
          { serviceAccountToken: { path: '..token' } },
          { serviceAccountToken: { audience: 'a' } },
        ],
      },
    };
    const at = 'spec.volumes[0].projected.sources';
    assert.deepEqual(errs(v), [
      `${at}[0].configMap.items[0].path: Invalid value: "../c": must not contain '..'`,
      `${at}[0].configMap.items[0].path: Invalid value: "../c": must not start with '..'`,
      `${at}[1].secret.items[0].path: Invalid value: "/s": must be a relative path`,
      `${at}[2].downwardAPI.items[1].path: Invalid value: "x/../../y": must not contain '..'`,
      `${at}[3].serviceAccountToken.path: Invalid value: "..token": must not start with '..'`,
      `${at}[4].serviceAccountToken.path: Required value`,
    ]);
  });
});

describe("the node's gate for pods of every source (validatePodPathFields, PodConfig)", () => {
  const apiPod = (uid: string, name = 'web', extra: Partial<Pod['spec']> = {}): Pod => ({
    metadata: { name, namespace: 'default', uid },
    spec: { containers: [{ name: 'app', image: 'busybox' }], ...extra },
  });

  it('names each field that cannot be one path component', () => {
    const p = apiPod('/../../etc', 'a/b', { volumes: [{ name: '..', emptyDir: {} }], initContainers: [{ name: 'x/y', image: 'busybox' }] });
    p.metadata.namespace = '..';
    assert.deepEqual(validatePodPathFields(p), [
      `metadata.uid: Invalid value: "/../../etc": must be usable as a single path component: must not contain '/'`,
      `metadata.name: Invalid value: "a/b": must be usable as a single path component: must not contain '/'`,
      `metadata.namespace: Invalid value: "..": must be usable as a single path component: must not be '..'`,
      `spec.initContainers[0].name: Invalid value: "x/y": must be usable as a single path component: must not contain '/'`,
      `spec.volumes[0].name: Invalid value: "..": must be usable as a single path component: must not be '..'`,
    ]);
    assert.deepEqual(validatePodPathFields(apiPod('0b6f7e0e-2a7e-4d4e-9c8a-1f2e3d4c5b6a')), []);
  });

  it('PodConfig refuses an API pod with such a uid (with the pod, for an event) and keeps the others', () => {
    const config = new PodConfig(['api']);
    const bad = apiPod('/../../../tmp/victim', 'evil');
    const r = config.set('api', [apiPod('0b6f7e0e-2a7e-4d4e-9c8a-1f2e3d4c5b6a'), bad]);
    assert.deepEqual(
      r.changes.map((c) => `${c.op} ${c.pod.metadata.name ?? ''}`),
      ['add web'],
    );
    assert.equal(r.refused.length, 1);
    assert.equal(r.refused[0]?.fullName, 'default/evil');
    assert.match(r.refused[0]?.reason ?? '', /^invalid pod: metadata\.uid: Invalid value: "\/\.\.\/\.\.\/\.\.\/tmp\/victim": /);
    assert.equal(r.refused[0]?.pod, bad);
    assert.equal(config.get('/../../../tmp/victim'), undefined);
  });
});

describe('validation: seccompProfile.localhostProfile', () => {
  it('must be a relative path without .. (pod and container level); the runtime would read any file', () => {
    const p = pod();
    p.spec.securityContext = { seccompProfile: { type: 'Localhost', localhostProfile: '/etc/shadow' } };
    p.spec.containers[0]!.securityContext = { seccompProfile: { type: 'Localhost', localhostProfile: '../../../etc/shadow' } };
    assert.deepEqual(validatePod(p), [
      'spec.securityContext.seccompProfile.localhostProfile: Invalid value: "/etc/shadow": must be a relative path',
      `spec.containers[0].securityContext.seccompProfile.localhostProfile: Invalid value: "../../../etc/shadow": must not contain '..'`,
    ]);
    p.spec.securityContext = { seccompProfile: { type: 'Localhost', localhostProfile: 'profiles/audit.json' } };
    p.spec.containers[0]!.securityContext = {};
    assert.deepEqual(validatePod(p), []);
  });
});
