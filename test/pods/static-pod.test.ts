// Static pod manifests: parsing (YAML, JSON, many documents, lists), upstream naming, UIDs and
// annotations, defaults, and clear errors for bad manifests that never throw.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPullPolicy, parseManifests, ANNOTATION_CONFIG_HASH, ANNOTATION_CONFIG_SOURCE } from '../../src/pods/static-pod.js';
import { validatePod } from '../../src/pods/validation.js';
import type { Pod } from '../../src/api/core-v1.js';

const opts = { nodeName: 'node-a', source: 'file' as const, location: '/etc/kubernetes/manifests/web.yaml' };

const WEB = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: nginx
    image: busybox:1.35
    command: [sleep, infinity]
    ports: [{containerPort: 80, name: http}]
    readinessProbe:
      httpGet: {port: http}
`;

function onlyPod(text: string, o = opts): Pod {
  const r = parseManifests(text, o);
  assert.equal(r.length, 1);
  const first = r[0]!;
  assert.ok(first.ok, first.ok ? '' : first.error);
  return first.pod;
}

describe('static pod manifests', () => {
  it('names, namespaces, UIDs and annotates a static pod as upstream', () => {
    const pod = onlyPod(WEB);
    assert.equal(pod.metadata.name, 'web-node-a');
    assert.equal(pod.metadata.namespace, 'default');
    assert.match(pod.metadata.uid ?? '', /^[0-9a-f]{32}$/);
    assert.equal(pod.metadata.annotations?.[ANNOTATION_CONFIG_HASH], pod.metadata.uid);
    assert.equal(pod.metadata.annotations?.[ANNOTATION_CONFIG_SOURCE], 'file');
    assert.equal(pod.spec.nodeName, 'node-a');
    assert.deepEqual(pod.spec.tolerations, [{ operator: 'Exists', effect: 'NoExecute' }]);
    assert.deepEqual(pod.metadata.labels, { app: 'web' });
  });

  it('applies API defaults', () => {
    const pod = onlyPod(WEB);
    assert.equal(pod.spec.restartPolicy, 'Always');
    assert.equal(pod.spec.dnsPolicy, 'ClusterFirst');
    assert.equal(pod.spec.terminationGracePeriodSeconds, 30);
    const c = pod.spec.containers[0]!;
    assert.equal(c.imagePullPolicy, 'IfNotPresent');
    assert.equal(c.terminationMessagePath, '/dev/termination-log');
    assert.equal(c.terminationMessagePolicy, 'File');
    assert.equal(c.ports?.[0]?.protocol, 'TCP');
    assert.deepEqual(c.readinessProbe, {
      httpGet: { port: 'http', path: '/', scheme: 'HTTP' },
      timeoutSeconds: 1,
      periodSeconds: 10,
      successThreshold: 1,
      failureThreshold: 3,
    });
    assert.equal(defaultPullPolicy('busybox'), 'Always');
    assert.equal(defaultPullPolicy('busybox:latest'), 'Always');
    assert.equal(defaultPullPolicy('localhost:5000/busybox'), 'Always');
    assert.equal(defaultPullPolicy('localhost:5000/busybox:1'), 'IfNotPresent');
    assert.equal(defaultPullPolicy('busybox@sha256:abc'), 'IfNotPresent');
  });

  it('gives the same UID for the same manifest, and a new one when it changes or moves', () => {
    const a = onlyPod(WEB).metadata.uid;
    assert.equal(onlyPod(WEB).metadata.uid, a);
    assert.equal(onlyPod(WEB.replace('infinity', '"3600"')).metadata.uid === a, false, 'an edit replaces the pod');
    assert.equal(onlyPod(WEB, { ...opts, location: '/other.yaml' }).metadata.uid === a, false);
    assert.equal(onlyPod(WEB, { ...opts, nodeName: 'node-b' }).metadata.uid === a, false);
    // Key order does not matter.
    const json1 = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec: { containers: [{ name: 'c', image: 'i:1' }] } });
    const json2 = JSON.stringify({ spec: { containers: [{ image: 'i:1', name: 'c' }] }, metadata: { name: 'x' }, kind: 'Pod', apiVersion: 'v1' });
    assert.equal(onlyPod(json1).metadata.uid, onlyPod(json2).metadata.uid);
  });

  it('reads many documents, JSON, and Lists, reporting each bad one by place', () => {
    const text = `${WEB}---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n${WEB.replace('name: web', 'name: api')}---\n`;
    const r = parseManifests(text, opts);
    assert.equal(r.length, 3);
    assert.deepEqual(
      r.map((x) => x.ok),
      [true, false, true],
    );
    assert.equal(r[1]!.where, `${opts.location}#2`);
    assert.match(r[1]!.ok ? '' : r[1]!.error, /kind must be Pod, not "Service"/);
    const list = JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'one' }, spec: { containers: [{ name: 'c', image: 'i:1' }] } },
        { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'Two' }, spec: { containers: [{ name: 'c', image: 'i:1' }] } },
      ],
    });
    const lr = parseManifests(list, opts);
    assert.deepEqual(
      lr.map((x) => x.ok),
      [true, false],
    );
    assert.equal(lr[1]!.where, `${opts.location}.items[1]`);
    assert.match(lr[1]!.ok ? '' : lr[1]!.error, /metadata.name: "Two" must be a DNS-1123 subdomain/);
  });

  it('refuses malformed manifests with clear errors and never throws', () => {
    const cases: [string, RegExp][] = [
      ['a: [1,\n', /cannot parse/],
      ['apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n', /spec: required/],
      ['apiVersion: v1\nkind: Pod\nspec: {containers: []}\n', /metadata: required/],
      ['apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: []}\n', /spec.containers: at least one container/],
      ['apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: c}]}\n', /spec.containers\[0\].image: required/],
      ['apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: c, image: i}, {name: c, image: i}]}\n', /duplicate container name "c"/],
      [
        'apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {restartPolicy: Sometimes, containers: [{name: c, image: i}]}\n',
        /spec.restartPolicy: must be Always, OnFailure or Never/,
      ],
      [
        'apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: c, image: i, volumeMounts: [{name: v, mountPath: /d}]}]}\n',
        /volume "v" not found/,
      ],
      ['apiVersion: v2\nkind: Pod\nmetadata: {name: x}\nspec: {}\n', /apiVersion must be v1/],
      ['apiVersion: v1\nkind: Pod\nmetadata: {name: x, name: y}\nspec: {}\n', /cannot parse/],
      ['- 1\n- 2\n', /not a Pod object/],
    ];
    for (const [text, re] of cases) {
      const r = parseManifests(text, opts);
      assert.equal(r.length, 1, text);
      assert.equal(r[0]!.ok, false, text);
      assert.match(r[0]!.ok ? '' : r[0]!.error, re, text);
    }
  });

  it('validates probes, ports and init containers', () => {
    const base = (c: object): Pod => ({ metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i', ...c }] } });
    assert.match(validatePod(base({ livenessProbe: { exec: { command: ['x'] }, tcpSocket: { port: 1 } } })).join(), /exactly one handler/);
    assert.match(validatePod(base({ readinessProbe: { httpGet: { port: 'web' } } })).join(), /no container port named "web"/);
    assert.match(validatePod(base({ ports: [{ containerPort: 70000 }] })).join(), /between 1 and 65535/);
    assert.match(validatePod(base({ resources: { limits: { memory: 'lots' } } })).join(), /"lots" is not a quantity/);
    assert.deepEqual(validatePod(base({ resources: { limits: { memory: '128Mi', cpu: '500m' }, requests: { cpu: 0.1 } } })), []);
    const init: Pod = {
      metadata: { name: 'p' },
      spec: { initContainers: [{ name: 'i', image: 'i', livenessProbe: { exec: { command: ['x'] } } }], containers: [{ name: 'c', image: 'i' }] },
    };
    assert.match(validatePod(init).join(), /livenessProbe: not allowed on init containers/);
    init.spec.initContainers![0]!.restartPolicy = 'Always';
    assert.deepEqual(validatePod(init), [], 'a sidecar may have probes');
  });
});
