// The sim's image store (pre-loaded images, pulls with latency and failures by pattern,
// ImageStatus of unknown images, removal, ImageFsInfo) and pod IPs (allocation from the CIDR,
// release on stop, exhaustion, UpdateRuntimeConfig, host network).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CriInvalidArgumentError, CriNotFoundError, CriResourceExhaustedError, CriRuntimeError } from '../../src/native/cri/errors.js';
import { normalizeImageRef } from '../../src/sim/index.js';
import { newPod, sandboxConfig } from '../helpers/cri-fixtures.js';
import { settle, simHarness, BUSYBOX } from './sim-fixtures.js';

describe('sim images', () => {
  it('normalizes references as containerd does', () => {
    assert.equal(normalizeImageRef('busybox'), 'docker.io/library/busybox:latest');
    assert.equal(normalizeImageRef('busybox:1.35'), 'docker.io/library/busybox:1.35');
    assert.equal(normalizeImageRef('me/app'), 'docker.io/me/app:latest');
    assert.equal(normalizeImageRef('localhost:5000/app'), 'localhost:5000/app:latest');
    assert.equal(normalizeImageRef('registry.k8s.io/pause:3.9'), 'registry.k8s.io/pause:3.9');
  });

  it('pre-loads configurable images and finds them by tag, short name, digest and ID', async () => {
    const h = await simHarness({ images: ['busybox:1.36', { name: 'registry.k8s.io/pause:3.9', sizeBytes: 1000 }] });
    try {
      const { images } = await h.cri.ListImages({});
      assert.deepEqual(images.map((i) => i.repoTags[0]).sort(), ['docker.io/library/busybox:1.36', 'registry.k8s.io/pause:3.9']);
      const pause = images.find((i) => i.repoTags.includes('registry.k8s.io/pause:3.9'));
      assert.equal(pause?.size, 1000);
      for (const ref of ['busybox:1.36', pause?.id ?? '', pause?.repoDigests[0] ?? '']) {
        const st = await h.cri.ImageStatus({ image: { image: ref } });
        assert.ok(st.image, `found by ${ref}`);
      }
      const filtered = await h.cri.ListImages({ filter: { image: { image: 'busybox:1.36' } } });
      assert.equal(filtered.images.length, 1);
    } finally {
      await h.close();
    }
  });

  it('pulls unknown images after the configured latency and answers with the image ID', async () => {
    const h = await simHarness({ pull: { latencyMs: 3_000 } });
    try {
      assert.equal((await h.cri.ImageStatus({ image: { image: 'nginx:1.25' } })).image, null, 'unknown: null, not an error');
      let done = false;
      const pulling = h.cri.PullImage({ image: { image: 'nginx:1.25' } }).finally(() => {
        done = true;
      });
      await h.advance(2_999);
      assert.equal(done, false, 'still pulling');
      await h.advance(1);
      const { imageRef } = await pulling;
      assert.match(imageRef, /^sha256:[0-9a-f]{64}$/);
      const st = await h.cri.ImageStatus({ image: { image: 'docker.io/library/nginx:1.25' } });
      assert.equal(st.image?.id, imageRef);
      await h.cri.RemoveImage({ image: { image: imageRef } });
      assert.equal((await h.cri.ImageStatus({ image: { image: 'nginx:1.25' } })).image, null);
      await h.cri.RemoveImage({ image: { image: 'nginx:1.25' } }); // idempotent
    } finally {
      await h.close();
    }
  });

  it('fails pulls that match a failure pattern with the chosen code; *.invalid fails by default', async () => {
    const h = await simHarness();
    try {
      await assert.rejects(h.cri.PullImage({ image: { image: 'example.invalid/app:1' } }), (err: unknown) => {
        assert.ok(err instanceof CriNotFoundError, String(err));
        assert.match(err.message, /failed to pull and unpack image "example.invalid\/app:1"/);
        return true;
      });
      h.sim.setPullFailures([
        { pattern: 'docker.io/private/*', code: 'RESOURCE_EXHAUSTED', message: 'rate limited' },
        { pattern: '/flaky/', code: 'UNKNOWN' },
      ]);
      await assert.rejects(
        h.cri.PullImage({ image: { image: 'private/app' } }),
        (err: unknown) => err instanceof CriResourceExhaustedError && /rate limited/.test(err.message),
      );
      await assert.rejects(h.cri.PullImage({ image: { image: 'me/flaky-app' } }), CriRuntimeError);
      await h.cri.PullImage({ image: { image: 'example.invalid/app:1' } }); // the default rule was replaced
    } finally {
      await h.close();
    }
  });

  it('refuses to create a container from an image it does not have', async () => {
    const h = await simHarness();
    try {
      const p = await h.pod();
      await assert.rejects(
        h.cri.CreateContainer({
          podSandboxId: p.sandboxId,
          config: { metadata: { name: 'x' }, image: { image: 'nginx:9' } },
          sandboxConfig: sandboxConfig(p.pod, h.logRoot),
        }),
        (err: unknown) => err instanceof CriNotFoundError && /failed to resolve image "nginx:9"/.test(err.message),
      );
    } finally {
      await h.close();
    }
  });

  it('reports the image filesystem with the bytes of its images', async () => {
    const h = await simHarness({ images: [{ name: BUSYBOX, sizeBytes: 5000 }], imageFsMountpoint: '/sim/images' });
    try {
      const fs = (await h.cri.ImageFsInfo({})).imageFilesystems[0];
      assert.equal(fs?.fsId?.mountpoint, '/sim/images');
      assert.equal(fs?.usedBytes?.value, 5000);
    } finally {
      await h.close();
    }
  });
});

describe('sim pod IPs', () => {
  it('hands out addresses from the CIDR from .2 and releases them on stop', async () => {
    const h = await simHarness({ podCidr: '10.99.0.0/29' });
    try {
      const ips: string[] = [];
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const { sandboxId } = await h.pod();
        ids.push(sandboxId);
        ips.push((await h.cri.PodSandboxStatus({ podSandboxId: sandboxId })).status?.network?.ip ?? '');
      }
      assert.deepEqual(ips, ['10.99.0.2', '10.99.0.3', '10.99.0.4', '10.99.0.5', '10.99.0.6']);
      await assert.rejects(h.pod(), (err: unknown) => err instanceof CriRuntimeError && /no IP addresses available/.test(err.message), 'a /29 holds 5 pods');
      await h.cri.StopPodSandbox({ podSandboxId: ids[2] ?? '' });
      assert.equal((await h.cri.PodSandboxStatus({ podSandboxId: ids[2] ?? '' })).status?.network?.ip, '', 'a stopped sandbox has no IP');
      const again = await h.pod();
      assert.equal((await h.cri.PodSandboxStatus({ podSandboxId: again.sandboxId })).status?.network?.ip, '10.99.0.4', 'the released address is reused');
      assert.equal(h.sim.stats().podIps, 5);
    } finally {
      await h.close();
    }
  });

  it('gives host-network sandboxes no pod IP', async () => {
    const h = await simHarness();
    try {
      const pod = newPod('host');
      const config = sandboxConfig(pod, h.logRoot);
      config.linux = { securityContext: { namespaceOptions: { network: 'NODE' } } };
      const { podSandboxId } = await h.cri.RunPodSandbox({ config });
      assert.equal((await h.cri.PodSandboxStatus({ podSandboxId })).status?.network?.ip, '');
      assert.equal(h.sim.stats().podIps, 0);
    } finally {
      await h.close();
    }
  });

  it('takes a new pod CIDR from UpdateRuntimeConfig and refuses a bad one', async () => {
    const h = await simHarness();
    try {
      await h.cri.UpdateRuntimeConfig({ runtimeConfig: { networkConfig: { podCidr: '192.168.7.0/24' } } });
      assert.equal(h.sim.podCidr, '192.168.7.0/24');
      const { sandboxId } = await h.pod();
      assert.equal((await h.cri.PodSandboxStatus({ podSandboxId: sandboxId })).status?.network?.ip, '192.168.7.2');
      await assert.rejects(h.cri.UpdateRuntimeConfig({ runtimeConfig: { networkConfig: { podCidr: 'not-a-cidr' } } }), CriInvalidArgumentError);
      await settle();
    } finally {
      await h.close();
    }
  });
});
