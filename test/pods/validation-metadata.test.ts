// Validation of what the API server checks and static pods used to skip (issue 16, finding 7):
// negative quantities and a 50 MB annotation were accepted; the 50 MB pod made /pods 52 MB and
// the RSS 3.3 GB. Upstream: quantities >= 0, requests <= limits, annotations <= 256 KiB in total,
// label and annotation keys are qualified names, label values at most 63 characters.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifests, MAX_POD_BYTES } from '../../src/pods/static-pod.js';
import { qualifiedNameErrors, TOTAL_ANNOTATION_SIZE_LIMIT, validatePod } from '../../src/pods/validation.js';
import type { Pod } from '../../src/api/core-v1.js';

const opts = { nodeName: 'n1', source: 'file' as const, location: 'm.json' };

function pod(over: { metadata?: Record<string, unknown>; container?: Record<string, unknown> } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', ...over.metadata },
    spec: { containers: [{ name: 'c', image: 'i', ...over.container }] },
  };
}

const errorsOf = (p: Pod): string[] => validatePod(p);

describe('resource quantities', () => {
  it("refuses negative requests and limits with upstream's message", () => {
    const errs = errorsOf(pod({ container: { resources: { requests: { cpu: '-1', memory: '-5Mi' }, limits: { cpu: '-500m' } } } }));
    assert.ok(errs.includes('spec.containers[0].resources.requests[cpu]: Invalid value: "-1": must be greater than or equal to 0'), errs.join('\n'));
    assert.ok(errs.includes('spec.containers[0].resources.requests[memory]: Invalid value: "-5Mi": must be greater than or equal to 0'), errs.join('\n'));
    assert.ok(errs.includes('spec.containers[0].resources.limits[cpu]: Invalid value: "-500m": must be greater than or equal to 0'), errs.join('\n'));
  });

  it('refuses requests above limits, and resource names that are not container resources', () => {
    const errs = errorsOf(pod({ container: { resources: { requests: { cpu: '2' }, limits: { cpu: '1', bogus: '1' } } } }));
    assert.ok(errs.includes('spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit'), errs.join('\n'));
    assert.ok(errs.includes('spec.containers[0].resources.limits[bogus]: Invalid value: "bogus": must be a standard resource for containers'), errs.join('\n'));
  });

  it('accepts what a real pod asks for: cpu, memory, ephemeral-storage, hugepages, extended resources', () => {
    assert.deepEqual(
      errorsOf(
        pod({
          container: {
            resources: {
              requests: { cpu: '100m', memory: '64Mi', 'ephemeral-storage': '1Gi', 'hugepages-2Mi': '0' },
              limits: { cpu: 1, memory: '128Mi', 'example.com/gpu': '1' },
            },
          },
        }),
      ),
      [],
    );
  });

  it('refuses a quantity that is not one, or is not text or a number', () => {
    assert.ok(errorsOf(pod({ container: { resources: { limits: { cpu: '1.2.3' } } } })).some((e) => /limits\.cpu: "1\.2\.3" is not a quantity/.test(e)));
    assert.ok(errorsOf(pod({ container: { resources: { limits: { cpu: { a: 1 } } } } })).some((e) => /is not a quantity/.test(e)));
    assert.ok(errorsOf(pod({ container: { resources: { limits: [] } } })).some((e) => /limits: must be a map of quantities/.test(e)));
  });
});

describe('labels and annotations', () => {
  it('refuses annotations over 256 KiB in total, as upstream', () => {
    const big = 'x'.repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
    assert.deepEqual(errorsOf(pod({ metadata: { annotations: { a: big.slice(1) } } })), []);
    assert.deepEqual(errorsOf(pod({ metadata: { annotations: { a: big } } })), ['metadata.annotations: Too long: must have at most 262144 bytes']);
  });

  it('a 50 MB annotation in a manifest is refused and never becomes a pod', () => {
    const text = JSON.stringify(pod({ metadata: { annotations: { a: 'x'.repeat(3 * 1024 * 1024) } } }));
    const r = parseManifests(text, opts);
    assert.equal(r.length, 1);
    assert.ok(!r[0]!.ok);
    assert.match(r[0]!.ok ? '' : r[0]!.error, /annotations: Too long|more than the 1572864 an API server stores/);
  });

  it('refuses a pod larger than an API server could store', () => {
    const env = Array.from({ length: 20_000 }, (_, i) => ({ name: `V${i}`, value: 'y'.repeat(80) }));
    const r = parseManifests(JSON.stringify(pod({ container: { env } })), opts);
    assert.ok(!r[0]!.ok);
    assert.match(r[0]!.ok ? '' : r[0]!.error, new RegExp(`more than the ${MAX_POD_BYTES} an API server stores`));
  });

  it('checks label keys, label values and annotation keys', () => {
    const errs = errorsOf(
      pod({ metadata: { labels: { 'bad key': 'v', 'example.com/ok': 'x'.repeat(64), ok: 'bad value!' }, annotations: { '/nope': 'v', 'a/b/c': 'v' } } }),
    );
    assert.ok(
      errs.some((e) => e.startsWith('metadata.labels: Invalid value: "bad key": name part must consist of')),
      errs.join('\n'),
    );
    assert.ok(
      errs.some((e) => /metadata.labels: Invalid value: "x{64}": must be no more than 63 characters/.test(e)),
      errs.join('\n'),
    );
    assert.ok(
      errs.some((e) => /metadata.labels: Invalid value: "bad value!": a valid label must be an empty string/.test(e)),
      errs.join('\n'),
    );
    assert.ok(
      errs.some((e) => e === 'metadata.annotations: Invalid value: "/nope": prefix part must be non-empty'),
      errs.join('\n'),
    );
    assert.ok(
      errs.some((e) => e.startsWith('metadata.annotations: Invalid value: "a/b/c": a qualified name')),
      errs.join('\n'),
    );
    assert.deepEqual(
      errorsOf(pod({ metadata: { labels: { app: 'web', 'app.kubernetes.io/name': '' }, annotations: { 'kubernetes.io/config.seen': 'x', Upper: 'y' } } })),
      [],
    );
  });

  it('qualified names: prefix and name parts', () => {
    assert.deepEqual(qualifiedNameErrors('example.com/name'), []);
    assert.deepEqual(qualifiedNameErrors('Example.com/name'), ['prefix part must be a lowercase RFC 1123 subdomain (at most 253 characters)']);
    assert.deepEqual(qualifiedNameErrors(`${'a'.repeat(64)}`), ['name part must be no more than 63 characters']);
    assert.deepEqual(qualifiedNameErrors(''), ['name part must be non-empty']);
  });
});
