// Env from configMaps and secrets (pure, through an object reader): envFrom with prefix and
// optional, valueFrom keys, fieldRef, resourceFieldRef, $(VAR) expansion, upstream's errors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Container, Pod } from '../../src/api/core-v1.js';
import { expandEnv, finalizeEnv, resolveContainerEnv } from '../../src/volumes/env.js';
import { ObjectCache } from '../../src/volumes/object-cache.js';
import { FakeObjects } from './fake-objects.js';

const node = { cpu: 2, memory: 4 * 2 ** 30, ephemeralStorage: 0 };
const objects = new FakeObjects();
objects.configMap('ns1', 'cfg', { data: { LOG_LEVEL: 'debug', 'bad key': 'x', MODE: 'fast' } });
objects.secret('ns1', 'db', { PASSWORD: 'pw', USER: 'admin' });
const reader = new ObjectCache(objects, 10_000, { now: () => Date.now() }).reader();

const pod: Pod = {
  metadata: { name: 'web-1', namespace: 'ns1', uid: 'u-1', labels: { app: 'web' } },
  spec: { nodeName: 'node-a', serviceAccountName: 'sa', containers: [] },
};

/** Resolved on the "main thread", finished as the pool thread does (no services, no pod IP). */
async function env(c: Partial<Container>) {
  const r = await resolveContainerEnv(pod, { name: 'app', ...c }, reader, { node, hostIP: '10.0.0.5' });
  return { env: finalizeEnv(r.entries, {}, []), skipped: r.skipped, entries: r.entries };
}

async function failure(c: Partial<Container>): Promise<string> {
  try {
    await env(c);
  } catch (err) {
    return (err as Error).message;
  }
  return assert.fail('expected an error');
}

describe('env from configMaps and secrets', () => {
  it('envFrom first (prefix; invalid names skipped and reported), then env[] overriding in place', async () => {
    const r = await env({
      envFrom: [{ configMapRef: { name: 'cfg' } }, { prefix: 'DB_', secretRef: { name: 'db' } }],
      env: [
        { name: 'MODE', value: 'slow' },
        { name: 'EXTRA', value: '1' },
      ],
    });
    assert.deepEqual(r.env, [
      { name: 'LOG_LEVEL', value: 'debug' },
      { name: 'MODE', value: 'slow' },
      { name: 'DB_PASSWORD', value: 'pw' },
      { name: 'DB_USER', value: 'admin' },
      { name: 'EXTRA', value: '1' },
    ]);
    assert.deepEqual(r.skipped, [{ source: 'configMap ns1/cfg', keys: ['bad key'] }]);
  });

  it('valueFrom configMapKeyRef / secretKeyRef, optional keys and objects skipped', async () => {
    const r = await env({
      env: [
        { name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'LOG_LEVEL' } } },
        { name: 'PW', valueFrom: { secretKeyRef: { name: 'db', key: 'PASSWORD' } } },
        { name: 'OPT_KEY', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'nope', optional: true } } },
        { name: 'OPT_OBJ', valueFrom: { secretKeyRef: { name: 'missing', key: 'x', optional: true } } },
      ],
      envFrom: [{ configMapRef: { name: 'missing', optional: true } }],
    });
    assert.deepEqual(r.env, [
      { name: 'LEVEL', value: 'debug' },
      { name: 'PW', value: 'pw' },
    ]);
  });

  it('fails with upstream words (CreateContainerConfigError)', async () => {
    assert.equal(
      await failure({ env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'KEY' } } }] }),
      "couldn't find key KEY in ConfigMap ns1/cfg",
    );
    assert.equal(await failure({ env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'db', key: 'KEY' } } }] }), "couldn't find key KEY in Secret ns1/db");
    assert.equal(await failure({ env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'foo', key: 'k' } } }] }), 'configmap "foo" not found');
    assert.equal(await failure({ envFrom: [{ secretRef: { name: 'foo' } }] }), 'secret "foo" not found');
    const standalone = new ObjectCache(undefined, 1000, { now: () => 0 }).reader();
    await assert.rejects(
      resolveContainerEnv(pod, { name: 'app', envFrom: [{ configMapRef: { name: 'cfg' } }] }, standalone, { node }),
      /couldn't get configMap ns1\/cfg, no kubeClient defined/,
    );
    const literal = await resolveContainerEnv(pod, { name: 'app', env: [{ name: 'A', value: 'b' }] }, standalone, { node });
    assert.deepEqual(literal.entries, [{ name: 'A', value: 'b' }], 'literal env needs no object source');
  });

  it('fieldRef and resourceFieldRef', async () => {
    const r = await env({
      resources: { limits: { memory: '128Mi' }, requests: { cpu: '250m' } },
      env: [
        { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'SA', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
        { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
        { name: 'CPU_M', valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m' } } },
        { name: 'CPU_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
      ],
    });
    assert.deepEqual(
      Object.fromEntries(r.env.map((e) => [e.name, e.value])),
      {
        POD: 'web-1',
        NS: 'ns1',
        APP: 'web',
        NODE: 'node-a',
        SA: 'sa',
        HOST_IP: '10.0.0.5',
        POD_IP: '',
        MEM_MI: '128',
        CPU_M: '250',
        CPU_LIMIT: '2',
      },
      'status.podIP is empty without a sandbox IP (upstream podIP "")',
    );
    assert.deepEqual(
      r.entries.find((e) => e.name === 'POD_IP'),
      { name: 'POD_IP', podIP: 'first' },
      'deferred to the pool thread',
    );
    const hostNet = await resolveContainerEnv(
      { ...pod, spec: { ...pod.spec, hostNetwork: true } },
      {
        name: 'app',
        env: [
          { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'POD_IPS', valueFrom: { fieldRef: { fieldPath: 'status.podIPs' } } },
        ],
      },
      reader,
      { node, hostIP: '10.0.0.5' },
    );
    assert.deepEqual(
      hostNet.entries,
      [
        { name: 'POD_IP', value: '10.0.0.5' },
        { name: 'POD_IPS', value: '10.0.0.5' },
      ],
      'host network: the node IP',
    );
  });

  it('expands $(VAR) as upstream', async () => {
    const look = (n: string): string | undefined => ({ A: 'x', B: 'y' })[n];
    assert.equal(expandEnv('$(A)-$(B)', look), 'x-y');
    assert.equal(expandEnv('$$(A)', look), '$(A)');
    assert.equal(expandEnv('$(C)', look), '$(C)');
    assert.equal(expandEnv('$(A', look), '$(A');
    assert.equal(expandEnv('a$b$', look), 'a$b$');
    const r = await env({
      envFrom: [{ configMapRef: { name: 'cfg' } }],
      env: [
        { name: 'URL', value: 'http://$(MODE):$(PORT)' },
        { name: 'PORT', value: '80' },
      ],
    });
    assert.equal(r.env.find((e) => e.name === 'URL')?.value, 'http://fast:$(PORT)', 'only names defined before expand');
  });
});
