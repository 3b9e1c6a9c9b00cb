// Container lifecycle on real containerd, through a real kubelet with static pods: postStart and
// preStop hooks (exec and httpGet, their order against the main process and TERM, the grace
// period), sidecar containers (start before and stop after the app containers, never hold a
// Job-like pod), activeDeadlineSeconds and termination messages (file and log fallback).
// Markers go to a hostPath folder the test reads on the host.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { killPod } from '../../src/pods/sync.js';
import { startStaticNode, type StaticNode } from '../helpers/static-node.js';
import { waitFor } from '../helpers/cri-fixtures.js';

describe('container lifecycle on containerd', () => {
  let node: StaticNode;
  let host: string;
  let server: Server;
  const requests: IncomingMessage[] = [];
  before(async () => {
    node = await startStaticNode({ runtime: 'containerd' });
    host = join(node.dir, 'markers');
    mkdirSync(host);
    server = createServer((req, res) => {
      requests.push(req);
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    server?.close();
    await node?.close();
  });

  /** A pod folder of markers on the host, mounted at /data. */
  function dataVolume(pod: string): { volumes: object[]; mount: object } {
    const path = join(host, pod);
    mkdirSync(path, { recursive: true });
    return { volumes: [{ name: 'data', hostPath: { path, type: 'DirectoryOrCreate' } }], mount: { name: 'data', mountPath: '/data' } };
  }

  function marker(pod: string, file: string): string | undefined {
    const p = join(host, pod, file);
    return existsSync(p) ? readFileSync(p, 'utf8') : undefined;
  }

  function uidOf(name: string): string {
    const uid = node.pod(name)?.metadata.uid;
    assert.ok(uid, `pod ${name} is on the node`);
    return uid;
  }

  /** Removes the static pod and waits until its worker has killed it. */
  async function removeAndWait(name: string): Promise<number> {
    const uid = uidOf(name);
    const t0 = Date.now();
    node.removePod(name);
    await waitFor(
      `${name} killed`,
      () => (!node.kubelet.workers.has(uid) || node.kubelet.workers.lifecycleOf(uid) === 'terminated' ? true : undefined),
      60_000,
      50,
    );
    return Date.now() - t0;
  }

  it('postStart exec runs right after start, before the pod is Running; the main process sees its file', async () => {
    const seen: string[] = [];
    node.writePod('poststart', {
      containers: [
        {
          name: 'c',
          command: ['sh', '-c', 'while [ ! -f /tmp/hook ]; do sleep 0.1; done; cat /tmp/hook > /tmp/seen; sleep 3600'],
          lifecycle: { postStart: { exec: { command: ['sh', '-c', 'sleep 2; echo hooked > /tmp/hook'] } } },
        },
      ],
    });
    const running = await node.waitStatus('poststart', 'Running', (s) => {
      const c = s.containerStatuses?.[0];
      if (c) seen.push(c.state.running ? 'running' : (c.state.waiting?.reason ?? 'other'));
      return s.phase === 'Running' && c?.state.running !== undefined;
    });
    assert.equal(running.containerStatuses?.[0]?.ready, true);
    // The hook's file exists as soon as the container is reported running.
    assert.equal((await node.exec('poststart', 'c', ['cat', '/tmp/hook'])).stdout, 'hooked\n');
    await waitFor(
      'main process saw the hook file',
      async () => ((await node.exec('poststart', 'c', ['cat', '/tmp/seen'], { allowFail: true })).stdout === 'hooked\n' ? true : undefined),
      10_000,
      100,
    );
    assert.ok(seen.includes('ContainerCreating'), `waiting while the hook ran: ${seen.join(',')}`);
    assert.deepEqual(
      node
        .eventsOf('poststart')
        .map((e) => e.reason)
        .filter((r) => r !== 'Pulled'),
      ['Created', 'Started'],
    );
    await removeAndWait('poststart');
  });

  it('a failing postStart gives FailedPostStartHook, kills the container, and it restarts', async () => {
    node.writePod('poststart-fail', {
      containers: [{ name: 'c', command: ['sleep', '3600'], lifecycle: { postStart: { exec: { command: ['sh', '-c', 'echo oops; exit 3'] } } } }],
    });
    const s = await node.waitStatus('poststart-fail', 'restarted after the hook failed', (st) => (st.containerStatuses?.[0]?.restartCount ?? 0) >= 1);
    const uid = uidOf('poststart-fail');
    const failed = node.eventsOf('poststart-fail', 'FailedPostStartHook')[0];
    assert.equal(failed?.eventType, 'Warning');
    assert.equal(failed?.container, 'c');
    assert.equal(
      failed?.message,
      `Exec lifecycle hook ([sh -c echo oops; exit 3]) for Container "c" in Pod "poststart-fail-node-p_default(${uid})" failed - error: command 'sh -c echo oops; exit 3' exited with 3: , message: "oops\\n"`,
    );
    const reasons = node
      .eventsOf('poststart-fail')
      .map((e) => e.reason)
      .filter((r) => r !== 'Pulled');
    assert.deepEqual(reasons.slice(0, 4), ['Created', 'Started', 'FailedPostStartHook', 'Killing']);
    assert.equal(node.eventsOf('poststart-fail', 'Killing')[0]?.message, 'FailedPostStartHook');
    const last = s.containerStatuses?.[0];
    assert.ok(last?.lastState.terminated, 'the killed run is the last state');
    await removeAndWait('poststart-fail');
  });

  it('preStop exec runs at deletion before TERM reaches the main process', async () => {
    const v = dataVolume('prestop');
    node.writePod('prestop', {
      terminationGracePeriodSeconds: 10,
      volumes: v.volumes,
      containers: [
        {
          name: 'c',
          volumeMounts: [v.mount],
          command: [
            'sh',
            '-c',
            "trap 'if [ -f /data/hook ]; then echo after-hook > /data/term; else echo before-hook > /data/term; fi; exit 0' TERM; while true; do sleep 0.1; done",
          ],
          lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo prestop > /data/hook'] } } },
        },
      ],
    });
    await node.waitStatus('prestop', 'Running', (s) => s.phase === 'Running');
    const ms = await removeAndWait('prestop');
    assert.equal(marker('prestop', 'hook'), 'prestop\n');
    assert.equal(marker('prestop', 'term'), 'after-hook\n', 'TERM came after the hook');
    assert.ok(ms < 10_000, `the main process exited on TERM, well before the grace period (${ms} ms)`);
    assert.deepEqual(node.eventsOf('prestop', 'FailedPreStopHook'), []);
  });

  it('a preStop longer than the grace period is cut: grace 3 s, hook sleep 30, then 2 s for TERM', async () => {
    node.writePod('prestop-slow', {
      terminationGracePeriodSeconds: 3,
      containers: [{ name: 'c', command: ['sleep', '3600'], lifecycle: { preStop: { exec: { command: ['sleep', '30'] } } } }],
    });
    await node.waitStatus('prestop-slow', 'Running', (s) => s.phase === 'Running');
    const ms = await removeAndWait('prestop-slow');
    // 3 s of hook, then the 2 s minimum for StopContainer (sleep as PID 1 ignores TERM: killed).
    assert.ok(ms >= 3000, `the hook got its grace period (${ms} ms)`);
    assert.ok(ms < 15_000, `the 30 s hook did not hold the kill (${ms} ms)`);
    console.log(`# preStop sleep 30 with grace 3 s: pod killed in ${ms} ms`);
  });

  it('a kill without the pod spec (a kubelet restarted) runs the preStop its container annotation carries', async () => {
    const v = dataVolume('prestop-annotation');
    node.writePod('prestop-annotation', {
      volumes: v.volumes,
      containers: [
        {
          name: 'c',
          volumeMounts: [v.mount],
          command: ['sleep', '3600'],
          lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo from-annotation > /data/hook'] } } },
        },
      ],
    });
    await node.waitStatus('prestop-annotation', 'Running', (s) => s.phase === 'Running');
    const uid = uidOf('prestop-annotation');
    const id = await node.containerId('prestop-annotation', 'c');
    const st = await node.cri.ContainerStatus({ containerId: id, verbose: false });
    assert.equal(
      st.status?.annotations['io.kubernetes.container.preStopHandler'],
      JSON.stringify({ exec: { command: ['sh', '-c', 'echo from-annotation > /data/hook'] } }),
    );
    // What the kubelet does for a pod it no longer knows (an orphan after a restart): no spec.
    const r = await killPod(node.cri, uid, 2);
    assert.deepEqual(r.errors, []);
    assert.equal(marker('prestop-annotation', 'hook'), 'from-annotation\n');
    await removeAndWait('prestop-annotation');
  });

  it('a failing preStop gives FailedPreStopHook and the kill goes on', async () => {
    node.writePod('prestop-fail', {
      containers: [{ name: 'c', command: ['sleep', '3600'], lifecycle: { preStop: { exec: { command: ['sh', '-c', 'exit 9'] } } } }],
    });
    await node.waitStatus('prestop-fail', 'Running', (s) => s.phase === 'Running');
    const uid = uidOf('prestop-fail');
    await removeAndWait('prestop-fail');
    const e = node.eventsOf('prestop-fail', 'FailedPreStopHook')[0];
    assert.equal(e?.eventType, 'Warning');
    assert.equal(
      e?.message,
      `Exec lifecycle hook ([sh -c exit 9]) for Container "c" in Pod "prestop-fail-node-p_default(${uid})" failed - error: command 'sh -c exit 9' exited with 9: , message: ""`,
    );
    const list = await node.cri.ListContainers({ filter: { labelSelector: { 'io.kubernetes.pod.uid': uid } } });
    assert.ok(
      list.containers.every((c) => c.state !== 'CONTAINER_RUNNING'),
      'the container was stopped anyway',
    );
  });

  it('httpGet hooks: postStart and preStop reach their host with path and headers; a refused one fails', async () => {
    const port = (server.address() as AddressInfo).port;
    requests.length = 0;
    node.writePod('http-hooks', {
      containers: [
        {
          name: 'c',
          command: ['sleep', '3600'],
          lifecycle: {
            postStart: { httpGet: { host: '127.0.0.1', port, path: '/started?x=1', httpHeaders: [{ name: 'X-Hook', value: 'post' }] } },
            preStop: { httpGet: { host: '127.0.0.1', port: String(port), path: '/stopping' } },
          },
        },
      ],
    });
    await node.waitStatus('http-hooks', 'Running', (s) => s.phase === 'Running');
    assert.deepEqual(
      requests.map((r) => [r.method, r.url, r.headers['x-hook']]),
      [['GET', '/started?x=1', 'post']],
    );
    await removeAndWait('http-hooks');
    assert.deepEqual(
      requests.map((r) => r.url),
      ['/started?x=1', '/stopping'],
    );

    node.writePod('http-hook-fail', {
      containers: [{ name: 'c', command: ['sleep', '3600'], lifecycle: { postStart: { httpGet: { host: '127.0.0.1', port: 1, path: '/nope' } } } }],
    });
    await waitFor('FailedPostStartHook', () => node.eventsOf('http-hook-fail', 'FailedPostStartHook')[0], 60_000, 100);
    const uid = uidOf('http-hook-fail');
    assert.match(
      node.eventsOf('http-hook-fail', 'FailedPostStartHook')[0]?.message ?? '',
      new RegExp(
        `^HTTP lifecycle hook \\(/nope\\) for Container "c" in Pod "http-hook-fail-node-p_default\\(${uid}\\)" failed - error: Get "http://127.0.0.1:1/nope": dial tcp 127.0.0.1:1: connect: connection refused, message: ""$`,
      ),
    );
    await removeAndWait('http-hook-fail');
  });

  it('an httpGet preStop on a named port reaches busybox httpd at the pod IP', async () => {
    const v = dataVolume('httpd');
    writeFileSync(join(host, 'httpd', 'hook.cgi'), '#!/bin/sh\necho "$HTTP_USER_AGENT" > /data/hit\nprintf "Content-Type: text/plain\\r\\n\\r\\nok"\n');
    node.writePod('httpd', {
      volumes: v.volumes,
      containers: [
        {
          name: 'web',
          volumeMounts: [v.mount],
          ports: [{ name: 'http', containerPort: 8080 }],
          // A CGI script behind the hook's path leaves a marker when the request arrives.
          command: ['sh', '-c', 'mkdir -p /www/cgi-bin; cp /data/hook.cgi /www/cgi-bin/hook; chmod +x /www/cgi-bin/hook; exec httpd -f -p 8080 -h /www'],
          lifecycle: { preStop: { httpGet: { port: 'http', path: '/cgi-bin/hook' } } },
        },
      ],
    });
    await node.waitStatus('httpd', 'Running', (s) => s.phase === 'Running' && s.podIP !== undefined);
    await removeAndWait('httpd');
    assert.deepEqual(node.eventsOf('httpd', 'FailedPreStopHook'), []);
    assert.match(marker('httpd', 'hit') ?? '', /^kube-lifecycle\/\d+\.\d+\n$/, 'the CGI behind the hook path ran, asked by the kubelet');
  });

  it('a sidecar starts before the app container and stops after it', async () => {
    const v = dataVolume('sidecar');
    node.writePod('sidecar', {
      terminationGracePeriodSeconds: 10,
      volumes: v.volumes,
      initContainers: [
        {
          name: 'side',
          restartPolicy: 'Always',
          volumeMounts: [v.mount],
          command: [
            'sh',
            '-c',
            "trap 'if [ -f /data/app-term ]; then echo after-app > /data/side-term; else echo before-app > /data/side-term; fi; exit 0' TERM; echo up > /data/side-start; while true; do sleep 0.1; done",
          ],
        },
      ],
      containers: [
        {
          name: 'app',
          volumeMounts: [v.mount],
          command: [
            'sh',
            '-c',
            "if [ -f /data/side-start ]; then echo yes > /data/app-saw-side; else echo no > /data/app-saw-side; fi; trap 'sleep 1; echo done > /data/app-term; exit 0' TERM; while true; do sleep 0.1; done",
          ],
        },
      ],
    });
    const s = await node.waitStatus(
      'sidecar',
      'Running with the sidecar',
      (st) => st.phase === 'Running' && st.containerStatuses?.[0]?.ready === true && st.initContainerStatuses?.[0]?.state.running !== undefined,
    );
    assert.equal(s.initContainerStatuses?.[0]?.ready, true, 'a sidecar counts for readiness');
    assert.equal(s.conditions?.find((c) => c.type === 'Initialized')?.status, 'True');
    assert.equal(marker('sidecar', 'app-saw-side'), 'yes\n', 'the app started after the sidecar');
    // A sidecar that exits is started again while the app runs.
    await node.exec('sidecar', 'side', ['sh', '-c', 'kill 1'], { allowFail: true });
    await node.waitStatus(
      'sidecar',
      'sidecar restarted',
      (st) => (st.initContainerStatuses?.[0]?.restartCount ?? 0) >= 1 && st.initContainerStatuses?.[0]?.state.running !== undefined,
    );
    await removeAndWait('sidecar');
    assert.equal(marker('sidecar', 'app-term'), 'done\n');
    assert.equal(marker('sidecar', 'side-term'), 'after-app\n', 'the sidecar got TERM only after the app had exited');
  });

  it('a sidecar does not hold a Job-like pod: restartPolicy Never ends Succeeded', async () => {
    node.writePod('sidecar-job', {
      restartPolicy: 'Never',
      initContainers: [{ name: 'side', restartPolicy: 'Always', command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done'] }],
      containers: [{ name: 'job', command: ['sh', '-c', 'sleep 1; exit 0'] }],
    });
    const s = await node.waitStatus('sidecar-job', 'Succeeded', (st) => st.phase === 'Succeeded');
    assert.equal(s.containerStatuses?.[0]?.state.terminated?.exitCode, 0);
    assert.ok(s.initContainerStatuses?.[0]?.state.terminated, 'the sidecar was stopped');
    await removeAndWait('sidecar-job');
  });

  it('activeDeadlineSeconds: 5 fails the pod with DeadlineExceeded', async () => {
    node.writePod('deadline', { activeDeadlineSeconds: 5, containers: [{ name: 'c', command: ['sleep', '3600'] }] });
    await node.waitStatus('deadline', 'Running', (s) => s.phase === 'Running');
    const s = await node.waitStatus('deadline', 'Failed', (st) => st.phase === 'Failed', 30_000);
    assert.equal(s.reason, 'DeadlineExceeded');
    assert.equal(s.message, 'Pod was active on the node longer than the specified deadline');
    const started = Date.parse(s.startTime ?? '');
    const e = node.eventsOf('deadline', 'DeadlineExceeded')[0];
    assert.equal(e?.eventType, 'Normal');
    assert.equal(e?.message, 'Pod was active on the node longer than the specified deadline');
    assert.ok((e?.at ?? 0) - started >= 4000, 'not before the deadline (startTime has second precision)');
    await waitFor('container stopped', () => (node.status('deadline')?.containerStatuses?.[0]?.state.terminated ? true : undefined), 30_000, 100);
    await removeAndWait('deadline');
  });

  it('termination messages: from the file at terminationMessagePath, and from the logs with FallbackToLogsOnError', async () => {
    node.writePod('tmsg', {
      restartPolicy: 'Never',
      containers: [
        { name: 'file', command: ['sh', '-c', 'printf "custom message" > /dev/termination-log; exit 1'] },
        { name: 'path', terminationMessagePath: '/tmp/my-msg', command: ['sh', '-c', 'echo "at my path" > /tmp/my-msg; exit 0'] },
        { name: 'logs', terminationMessagePolicy: 'FallbackToLogsOnError', command: ['sh', '-c', 'echo line1; echo line2; exit 7'] },
        { name: 'nologs', terminationMessagePolicy: 'FallbackToLogsOnError', command: ['sh', '-c', 'echo ignored; exit 0'] },
      ],
    });
    const s = await node.waitStatus('tmsg', 'Failed', (st) => st.phase === 'Failed');
    const term = (name: string) => s.containerStatuses?.find((c) => c.name === name)?.state.terminated;
    assert.equal(term('file')?.message, 'custom message');
    assert.equal(term('file')?.exitCode, 1);
    assert.equal(term('path')?.message, 'at my path\n');
    assert.equal(term('logs')?.message, 'line1\nline2\n');
    assert.equal(term('logs')?.exitCode, 7);
    assert.equal(term('nologs')?.message, undefined, 'exit 0: the logs are not read');
    // The message files live under <root-dir>/pods/<uid>/containers/<name>/, gone with the pod.
    const containersDir = join(node.dir, 'root', 'pods', uidOf('tmsg'), 'containers');
    assert.equal(readdirSync(join(containersDir, 'file')).length, 1);
    assert.equal(readFileSync(join(containersDir, 'file', readdirSync(join(containersDir, 'file'))[0] ?? ''), 'utf8'), 'custom message');
    await removeAndWait('tmsg');
    await waitFor('message files removed with the pod', () => (existsSync(containersDir) ? undefined : true), 30_000, 100);
  });
});
