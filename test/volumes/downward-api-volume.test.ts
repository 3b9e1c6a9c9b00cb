// downwardAPI volumes: pod fields, labels/annotations formatted as upstream (sorted key="value"
// lines, Go quoting), single label/annotation, resourceFieldRef with divisor, updates.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { formatMap, goQuote } from '../../src/volumes/downward-api.js';
import { join, volumePod, volumeRig, type VolumeTestRig } from './helpers.js';

describe('downwardAPI volume', () => {
  let rig: VolumeTestRig;

  before(async () => {
    rig = await volumeRig({ nodeAllocatable: { cpu: 4, memory: 8 * 2 ** 30, ephemeralStorage: 100 * 2 ** 30 } });
  });
  after(() => rig.close());

  it('formats maps as upstream formatMap', () => {
    assert.equal(formatMap({ zone: 'b', app: 'web' }), 'app="web"\nzone="b"');
    assert.equal(formatMap({}), '');
    assert.equal(goQuote('say "hi"\\\n\ttab\x01é'), '"say \\"hi\\"\\\\\\n\\ttab\\x01é"');
  });

  it('writes fields, labels, annotations and resources under kubernetes.io~downward-api', async () => {
    const items = [
      { path: 'name', fieldRef: { fieldPath: 'metadata.name' } },
      { path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } },
      { path: 'uid', fieldRef: { fieldPath: 'metadata.uid' } },
      { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
      { path: 'meta/annotations', fieldRef: { fieldPath: 'metadata.annotations' }, mode: 0o600 },
      { path: 'tier', fieldRef: { fieldPath: "metadata.labels['tier']" } },
      { path: 'cpu_limit_m', resourceFieldRef: { containerName: 'app', resource: 'limits.cpu', divisor: '1m' } },
      { path: 'cpu_limit', resourceFieldRef: { containerName: 'app', resource: 'limits.cpu' } },
      { path: 'mem_request_mi', resourceFieldRef: { containerName: 'app', resource: 'requests.memory', divisor: '1Mi' } },
      { path: 'mem_limit', resourceFieldRef: { containerName: 'app', resource: 'limits.memory' } },
    ];
    const pod = volumePod(
      [{ name: 'info', downwardAPI: { items } }],
      [{ name: 'app', image: 'busybox:1.35', resources: { limits: { cpu: '500m' }, requests: { memory: '64Mi' } } }],
      {
        labels: { tier: 'frontend', app: 'web' },
        annotations: { build: 'v1 "final"' },
      },
    );
    const r = await rig.vm.setUp(pod);
    assert.deepEqual(r.errors, []);
    const dir = join(rig.root, 'pods', pod.metadata.uid!, 'volumes', 'kubernetes.io~downward-api', 'info');
    assert.equal(r.mounts.get('info'), dir);
    const read = (p: string): Promise<string> => readFile(join(dir, p), 'utf8');
    assert.equal(await read('name'), pod.metadata.name);
    assert.equal(await read('namespace'), 'ns1');
    assert.equal(await read('uid'), pod.metadata.uid);
    assert.equal(await read('labels'), 'app="web"\ntier="frontend"');
    assert.equal(await read('meta/annotations'), 'build="v1 \\"final\\""');
    assert.equal(await read('tier'), 'frontend');
    assert.equal(await read('cpu_limit_m'), '500');
    assert.equal(await read('cpu_limit'), '1', 'rounded up, as upstream');
    assert.equal(await read('mem_request_mi'), '64');
    assert.equal(await read('mem_limit'), String(8 * 2 ** 30), 'no limit: the node allocatable');
  });

  it('follows label changes of the pod on the next setUp', async () => {
    const pod = volumePod([{ name: 'l', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } }], undefined, {
      labels: { a: '1' },
    });
    const dir = (await rig.vm.setUp(pod)).mounts.get('l')!;
    assert.equal(await readFile(join(dir, 'labels'), 'utf8'), 'a="1"');
    const changed = { ...pod, metadata: { ...pod.metadata, labels: { a: '2', b: 'x' } } };
    await rig.vm.setUp(changed);
    assert.equal(await readFile(join(dir, 'labels'), 'utf8'), 'a="2"\nb="x"');
  });

  it('refuses unsupported fields', async () => {
    const pod = volumePod([{ name: 'bad', downwardAPI: { items: [{ path: 'ip', fieldRef: { fieldPath: 'status.podIP' } }] } }]);
    const r = await rig.vm.setUp(pod);
    assert.equal(r.errors[0]?.message, 'MountVolume.SetUp failed for volume "bad" : unsupported fieldPath: status.podIP');
  });
});
