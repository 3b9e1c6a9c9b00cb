// The prepare step's service env (enableServiceLinks): read once per pod and carried to the
// sync; when it fails (the Service cache not yet synced) every container of the pod gets the
// error, so none starts without its service variables (CreateContainerConfigError, as upstream).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { podPrepare, type PrepareResult } from '../../src/volumes/prepare.js';
import { ServicesNotSyncedError } from '../../src/volumes/errors.js';
import { containerInputs } from '../../src/volumes/prepared.js';
import { volumePod, volumeRig, type VolumeTestRig } from './helpers.js';

function prepared(r: PrepareResult) {
  assert.ok('prepared' in r, JSON.stringify(r));
  return r.prepared;
}

describe('prepare: service env', () => {
  let rig: VolumeTestRig;
  before(async () => {
    rig = await volumeRig({});
  });
  after(() => rig.close());

  const pod = volumePod(
    [],
    [{ name: 'app', image: 'i', command: ['echo', '$(DB_SERVICE_HOST)'], env: [{ name: 'DB', value: '$(DB_SERVICE_HOST):$(DB_SERVICE_PORT)' }] }],
  );
  pod.spec.initContainers = [{ name: 'init', image: 'i' }];

  it("carries the pod's service variables to the sync, where env and command read them", async () => {
    const asked: string[] = [];
    const prepare = podPrepare(rig.vm, {
      serviceEnv: (p) => (asked.push(p.metadata.name ?? ''), Promise.resolve({ DB_SERVICE_HOST: '10.0.0.30', DB_SERVICE_PORT: '5432' })),
    });
    const p = prepared(await prepare(pod));
    assert.equal(asked.length, 1, 'once per pod, not per container');
    assert.deepEqual(p.serviceEnv, { DB_SERVICE_HOST: '10.0.0.30', DB_SERVICE_PORT: '5432' });
    const app = pod.spec.containers[0];
    assert.ok(app);
    const inputs = containerInputs(app, p, ['10.88.0.2']);
    assert.deepEqual(inputs.env, [
      { name: 'DB_SERVICE_HOST', value: '10.0.0.30' },
      { name: 'DB_SERVICE_PORT', value: '5432' },
      { name: 'DB', value: '10.0.0.30:5432' },
    ]);
    assert.deepEqual(inputs.command, ['echo', '10.0.0.30']);
  });

  it("a service cache not yet synced fails every container with upstream's words", async () => {
    const prepare = podPrepare(rig.vm, { serviceEnv: () => Promise.reject(new ServicesNotSyncedError()) });
    const p = prepared(await prepare(pod));
    const msg = 'services have not yet been read at least once, cannot construct envvars';
    assert.deepEqual(p.env, { init: { error: msg }, app: { error: msg } });
    const app = pod.spec.containers[0];
    assert.ok(app);
    assert.throws(() => containerInputs(app, p, []), { message: msg });
  });
});
