// projected volumes: secret + configMap + downwardAPI + serviceAccountToken in one folder on
// tmpfs; TokenRequest bound to the pod; rotation at 80% of the lifetime; aggregated errors.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { readMountPoints } from '../../src/volumes/mounter.js';
import { FakeObjects, ManualClock } from './fake-objects.js';
import { join, volumePod, volumeRig, type VolumeTestRig } from './helpers.js';

describe('projected volume', () => {
  let rig: VolumeTestRig;
  const clock = new ManualClock();
  const objects = new FakeObjects();
  objects.now = () => clock.now();

  before(async () => {
    objects.secret('ns1', 'tls', { 'tls.crt': 'CERT' });
    objects.configMap('ns1', 'ca', { data: { 'ca.crt': 'CA' } });
    rig = await volumeRig({ objects, clock, objectCacheTtlMs: 1000 });
  });
  after(() => rig.close());

  const sources = [
    { serviceAccountToken: { path: 'token', expirationSeconds: 600, audience: 'api' } },
    { secret: { name: 'tls', items: [{ key: 'tls.crt', path: 'certs/tls.crt' }] } },
    { configMap: { name: 'ca' } },
    { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
  ];

  it('gathers every source in kubernetes.io~projected/<name>, on tmpfs, token bound to the pod', async () => {
    const pod = volumePod([{ name: 'kube-api-access', projected: { sources, defaultMode: 0o440 } }]);
    pod.spec.serviceAccountName = 'builder';
    const r = await rig.vm.setUp(pod);
    assert.deepEqual(r.errors, []);
    const dir = join(rig.root, 'pods', pod.metadata.uid!, 'volumes', 'kubernetes.io~projected', 'kube-api-access');
    assert.equal(r.mounts.get('kube-api-access'), dir);
    assert.ok((await readMountPoints()).includes(dir));
    assert.match(await readFile(join(dir, 'token'), 'utf8'), /^token-\d+-api$/);
    assert.equal(await readFile(join(dir, 'certs/tls.crt'), 'utf8'), 'CERT');
    assert.equal(await readFile(join(dir, 'ca.crt'), 'utf8'), 'CA');
    assert.equal(await readFile(join(dir, 'namespace'), 'utf8'), 'ns1');
    assert.equal((await stat(join(dir, 'token'))).mode & 0o777, 0o440);
    const req = objects.tokenRequests.at(-1)!;
    assert.deepEqual(req, {
      namespace: 'ns1',
      serviceAccount: 'builder',
      req: { audiences: ['api'], expirationSeconds: 600, boundPod: { name: pod.metadata.name!, uid: pod.metadata.uid! } },
    });
  });

  it('keeps the token until 80% of its lifetime, then rotates it', async () => {
    const pod = volumePod([{ name: 'tok', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 600 } }] } }]);
    const dir = (await rig.vm.setUp(pod)).mounts.get('tok')!;
    const first = await readFile(join(dir, 'token'), 'utf8');
    assert.deepEqual(objects.tokenRequests.at(-1)?.req.audiences, [], 'no audience: the API server default');
    assert.equal(objects.tokenRequests.at(-1)?.serviceAccount, 'default');
    const before = objects.tokenRequests.length;
    clock.advance(470_000);
    await rig.vm.setUp(pod);
    assert.equal(objects.tokenRequests.length, before, 'at 78% the token is kept');
    assert.equal(await readFile(join(dir, 'token'), 'utf8'), first);
    clock.advance(20_000);
    await rig.vm.setUp(pod);
    assert.equal(objects.tokenRequests.length, before + 1, 'past 80% a new token is requested');
    assert.notEqual(await readFile(join(dir, 'token'), 'utf8'), first);
  });

  it('a failed rotation keeps a still-valid token (warning-free: the token is still good)', async () => {
    const pod = volumePod([{ name: 'tok', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 600 } }] } }]);
    const dir = (await rig.vm.setUp(pod)).mounts.get('tok')!;
    const first = await readFile(join(dir, 'token'), 'utf8');
    clock.advance(500_000);
    objects.failNext = 1;
    const r = await rig.vm.setUp(pod);
    assert.deepEqual(r.errors, []);
    assert.equal(await readFile(join(dir, 'token'), 'utf8'), first);
  });

  it('reports every failing source together, as upstream aggregates them', async () => {
    const pod = volumePod([
      { name: 'p', projected: { sources: [{ secret: { name: 'nope' } }, { configMap: { name: 'nada' } }, { configMap: { name: 'ca' } }] } },
    ]);
    const r = await rig.vm.setUp(pod);
    assert.equal(r.errors[0]?.message, 'MountVolume.SetUp failed for volume "p" : [secret "nope" not found, configmap "nada" not found]');
    const optional = volumePod([{ name: 'p', projected: { sources: [{ secret: { name: 'nope', optional: true } }, { configMap: { name: 'ca' } }] } }]);
    assert.deepEqual((await rig.vm.setUp(optional)).errors, []);
  });
});
