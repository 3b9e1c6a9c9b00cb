// The container environment on real containerd (standalone kubelet, static pods): what `env`
// prints inside the container for literal values, $(VAR) expansion, fieldRefs (status.podIP is
// the pod's status IP, resolved after the sandbox exists), resourceFieldRefs with divisors and
// the node-allocatable default; $(VAR) in command and args as upstream; no service variables
// without an API server; a host-network pod's IP is the host's; the pod IP again for a container
// restarted in the same sandbox.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpus, totalmem } from 'node:os';
import { startStaticNode, type StaticNode } from '../helpers/static-node.js';
import { waitFor } from '../helpers/cri-fixtures.js';

function parseEnv(out: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return env;
}

describe('container env on containerd', () => {
  let node: StaticNode;
  before(async () => {
    node = await startStaticNode({ runtime: 'containerd' });
  });
  after(async () => {
    await node?.close();
  });

  it('env, fieldRefs, resourceFieldRefs and $(VAR) in env, command and args give what upstream gives', async () => {
    node.writePod(
      'envp',
      {
        containers: [
          {
            name: 'c',
            command: ['sh', '-c', "echo '$(GREETING) $$(GREETING) $(MISSING) $(GREETING' > /tmp/cmd; printf '%s|' \"$@\" > /tmp/args; sleep 3600", 'argv0'],
            args: ['$(POD_IP)', '$$(POD_IP)', '$(POD_NAME).$(POD_NS)', '$(', '$$$(GREETING)'],
            resources: { requests: { cpu: '250m', memory: '32Mi' }, limits: { memory: '64Mi' } },
            env: [
              { name: 'GREETING', value: 'hello' },
              { name: 'EMPTY', value: '' },
              { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'POD_NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
              { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
              { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
              { name: 'TEAM', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['team']" } } },
              { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
              { name: 'SA', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
              { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
              { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
              { name: 'POD_IPS', valueFrom: { fieldRef: { fieldPath: 'status.podIPs' } } },
              { name: 'URL', value: 'http://$(POD_IP):8080/$(GREETING)/$$(GREETING)/$(LATER)' },
              { name: 'LATER', value: 'late' },
              { name: 'CPU_REQ_M', valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m' } } },
              { name: 'CPU_REQ', valueFrom: { resourceFieldRef: { resource: 'requests.cpu' } } },
              { name: 'MEM_REQ_KI', valueFrom: { resourceFieldRef: { resource: 'requests.memory', divisor: '1Ki' } } },
              { name: 'MEM_LIMIT_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
              { name: 'CPU_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
              { name: 'CPU_LIMIT_M', valueFrom: { resourceFieldRef: { containerName: 'c', resource: 'limits.cpu', divisor: '1m' } } },
              { name: 'EPH_REQ', valueFrom: { resourceFieldRef: { resource: 'requests.ephemeral-storage' } } },
            ],
          },
        ],
      },
      { labels: { app: 'shop' }, annotations: { team: 'blue' } },
    );
    const status = await node.waitStatus('envp', 'Running', (s) => s.phase === 'Running' && s.containerStatuses?.[0]?.ready === true);
    const podIP = status.podIP ?? '';
    assert.match(podIP, /^\d+\.\d+\.\d+\.\d+$/, 'the pod has a CNI bridge IP');
    const pod = node.pod('envp');
    const uid = pod?.metadata.uid ?? '';
    assert.ok(uid.length > 0);

    const env = parseEnv((await node.exec('envp', 'c', ['env'])).stdout);
    const hostIP = status.hostIP ?? '';
    assert.ok(hostIP.length > 0, 'the pod status has a host IP');
    const expected: Record<string, string> = {
      GREETING: 'hello',
      EMPTY: '',
      POD_NAME: 'envp-node-p',
      POD_NS: 'default',
      POD_UID: uid,
      APP: 'shop',
      TEAM: 'blue',
      NODE: 'node-p',
      SA: '',
      HOST_IP: hostIP,
      POD_IP: podIP,
      POD_IPS: podIP,
      URL: `http://${podIP}:8080/hello/$(GREETING)/$(LATER)`,
      LATER: 'late',
      CPU_REQ_M: '250',
      CPU_REQ: '1',
      MEM_REQ_KI: '32768',
      MEM_LIMIT_MI: '64',
      // Unset limits read as the node's allocatable: all cores (no reservation), rounded up.
      CPU_LIMIT: String(cpus().length),
      CPU_LIMIT_M: String(cpus().length * 1000),
      EPH_REQ: '0',
    };
    // What the runtime and image add on their own (no service variables without an API server).
    const runtimeOwn = Object.keys(env)
      .filter((k) => !(k in expected))
      .sort();
    assert.deepEqual(runtimeOwn, ['HOME', 'HOSTNAME', 'PATH']);
    for (const k of runtimeOwn) delete env[k];
    assert.deepEqual(env, expected);
    assert.equal(env['NODE'], 'node-p');

    assert.equal((await node.exec('envp', 'c', ['cat', '/tmp/cmd'])).stdout, 'hello $(GREETING) $(MISSING) $(GREETING\n');
    assert.equal((await node.exec('envp', 'c', ['cat', '/tmp/args'])).stdout, `${podIP}|$(POD_IP)|envp-node-p.default|$(|$hello|`);
  });

  it('limits.memory without a limit reads the node allocatable (capacity minus the 100Mi hard eviction threshold)', async () => {
    node.writePod('alloc', {
      containers: [
        { name: 'c', command: ['sleep', '3600'], env: [{ name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } }] },
      ],
    });
    await node.waitStatus('alloc', 'Running', (s) => s.phase === 'Running');
    const env = parseEnv((await node.exec('alloc', 'c', ['env'])).stdout);
    assert.equal(env['MEM'], String(Math.ceil((totalmem() - 100 * 2 ** 20) / 2 ** 20)));
  });

  it('a host-network pod: status.podIP and status.podIPs are the host IP (upstream e2e: POD_IP == HOST_IP)', async () => {
    node.writePod('hostnet', {
      hostNetwork: true,
      containers: [
        {
          name: 'c',
          command: ['sleep', '3600'],
          env: [
            { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
            { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'POD_IPS', valueFrom: { fieldRef: { fieldPath: 'status.podIPs' } } },
          ],
        },
      ],
    });
    const status = await node.waitStatus('hostnet', 'Running', (s) => s.phase === 'Running');
    const env = parseEnv((await node.exec('hostnet', 'c', ['env'])).stdout);
    assert.ok(status.hostIP);
    assert.deepEqual([env['HOST_IP'], env['POD_IP'], env['POD_IPS']], [status.hostIP, status.hostIP, status.hostIP]);
  });

  it('a container restarted in the same sandbox gets the same status.podIP', async () => {
    node.writePod('again', {
      volumes: [{ name: 'shared', emptyDir: {} }],
      containers: [
        { name: 'keeper', command: ['sleep', '3600'], volumeMounts: [{ name: 'shared', mountPath: '/shared' }] },
        {
          name: 'flaky',
          command: ['sh', '-c', 'echo "$(POD_IP)" >> /shared/ips; sleep 1; exit 1'],
          env: [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
          volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
        },
      ],
    });
    const status = await node.waitStatus(
      'again',
      'Running',
      (s) => s.phase === 'Running' && (s.containerStatuses?.find((c) => c.name === 'flaky')?.restartCount ?? 0) >= 1,
    );
    const ips = await waitFor(
      'two starts of flaky',
      async () => {
        const out = (await node.exec('again', 'keeper', ['cat', '/shared/ips'])).stdout.trim().split('\n');
        return out.length >= 2 ? out : undefined;
      },
      30_000,
      200,
    );
    assert.ok(status.podIP);
    assert.deepEqual(ips.slice(0, 2), [status.podIP, status.podIP], 'the restart read the existing sandbox IP');
  });
});
