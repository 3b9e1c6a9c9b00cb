// Probes end to end on real containerd, through the real kubelet and its probe thread:
//  - a failing exec liveness probe restarts the container (Unhealthy then Killing, restartCount
//    1), killed with the probe-level terminationGracePeriodSeconds, not the pod's 30 s;
//  - an exec readiness probe flips Ready and ContainersReady both ways;
//  - a startup probe holds liveness and readiness back until it succeeds;
//  - httpGet (by port name) and tcpSocket against busybox httpd in the container, including a
//    404 that makes the pod unready with the upstream event; prober_probe_total counts them;
//  - grpc against a real grpc-js health server: a host-network pod on a node whose IP is
//    127.0.0.1, so the probe goes to loopback (pod IPs of the bridge have no grpc server in busybox).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import type { PodStatus } from '../../src/api/core-v1.js';
import { healthServiceDefinition, type ServingStatus } from '../../src/probes/grpc-health.js';
import { startStaticNode, type StaticNode } from '../helpers/static-node.js';
import { waitFor } from '../helpers/cri-fixtures.js';

function cond(s: PodStatus, type: string): string | undefined {
  return s.conditions?.find((c) => c.type === type)?.status;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('probes on containerd', () => {
  let node: StaticNode;
  let grpcServer: grpc.Server;
  let grpcPort = 0;
  let serving: ServingStatus = 'NOT_SERVING';
  before(async () => {
    grpcServer = new grpc.Server();
    grpcServer.addService(healthServiceDefinition, {
      Check: (_call: unknown, cb: grpc.sendUnaryData<{ status: ServingStatus }>) => cb(null, { status: serving }),
    });
    grpcPort = await new Promise<number>((res, rej) =>
      grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
    );
    node = await startStaticNode({ runtime: 'containerd', args: ['--node-ip', '127.0.0.1'] });
  });
  after(async () => {
    await node?.close();
    grpcServer?.forceShutdown();
  });

  it('a failing liveness probe restarts the container: Unhealthy, then Killing, restartCount 1', async () => {
    node.writePod('live', {
      terminationGracePeriodSeconds: 30,
      containers: [
        {
          name: 'c',
          command: ['sh', '-c', 'touch /tmp/healthy; sleep 4; rm -f /tmp/healthy; sleep 3600'],
          livenessProbe: { exec: { command: ['cat', '/tmp/healthy'] }, periodSeconds: 1, failureThreshold: 2, terminationGracePeriodSeconds: 1 },
        },
      ],
    });
    const first = await node.waitStatus('live', 'Running', (s) => s.containerStatuses?.[0]?.state.running !== undefined);
    const firstId = first.containerStatuses?.[0]?.containerID;
    const restarted = await node.waitStatus(
      'live',
      'restarted once',
      (s) => s.containerStatuses?.[0]?.restartCount === 1 && s.containerStatuses[0].state.running !== undefined,
      60_000,
    );
    assert.notEqual(restarted.containerStatuses?.[0]?.containerID, firstId);
    assert.equal(restarted.containerStatuses?.[0]?.lastState.terminated?.exitCode, 137);
    const reasons = node
      .eventsOf('live')
      .map((e) => e.reason)
      .filter((r) => r === 'Unhealthy' || r === 'Killing');
    // Two failed attempts (failureThreshold 2), then the kill.
    assert.deepEqual(reasons.slice(0, 3), ['Unhealthy', 'Unhealthy', 'Killing']);
    const unhealthy = node.eventsOf('live', 'Unhealthy')[0]!;
    assert.equal(unhealthy.eventType, 'Warning');
    assert.equal(unhealthy.container, 'c');
    assert.equal(unhealthy.message, "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory\n");
    const killing = node.eventsOf('live', 'Killing')[0]!;
    assert.equal(killing.message, 'Container c failed liveness probe, will be restarted');
    // Killed with the probe's grace (1 s) although sh ignores SIGTERM and the pod allows 30 s.
    const started = node.eventsOf('live', 'Started');
    const restartAt = started[1]?.at ?? 0;
    assert.ok(restartAt - killing.at < 10_000, `restart took ${restartAt - killing.at} ms after Killing`);
    node.removePod('live');
  });

  it('readiness flips Ready and ContainersReady both ways', async () => {
    node.writePod('ready', {
      containers: [{ name: 'c', command: ['sleep', '3600'], readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 1 } }],
    });
    const running = await node.waitStatus('ready', 'Running', (s) => s.containerStatuses?.[0]?.state.running !== undefined);
    assert.equal(running.containerStatuses?.[0]?.ready, false);
    assert.equal(cond(running, 'Ready'), 'False');
    await sleep(2500);
    assert.equal(node.status('ready')?.containerStatuses?.[0]?.ready, false, 'unready until the probe succeeds');
    await node.exec('ready', 'c', ['touch', '/tmp/ready']);
    const ready = await node.waitStatus('ready', 'Ready', (s) => cond(s, 'Ready') === 'True', 20_000);
    assert.equal(cond(ready, 'ContainersReady'), 'True');
    assert.equal(ready.containerStatuses?.[0]?.ready, true);
    await node.exec('ready', 'c', ['rm', '/tmp/ready']);
    // failureThreshold 3 at period 1 s: unready about 3 s later.
    const unready = await node.waitStatus('ready', 'unready again', (s) => cond(s, 'Ready') === 'False', 20_000);
    assert.equal(cond(unready, 'ContainersReady'), 'False');
    assert.equal(unready.conditions?.find((c) => c.type === 'Ready')?.reason, 'ContainersNotReady');
    assert.equal(unready.containerStatuses?.[0]?.restartCount, 0, 'readiness never restarts');
    assert.match(node.eventsOf('ready', 'Unhealthy')[0]?.message ?? '', /^Readiness probe failed: cat: can't open '\/tmp\/ready'/);
    node.removePod('ready');
  });

  it('a startup probe holds liveness and readiness back until it succeeds', async () => {
    node.writePod('startup', {
      containers: [
        {
          name: 'c',
          command: ['sleep', '3600'],
          startupProbe: { exec: { command: ['cat', '/tmp/started'] }, periodSeconds: 1, failureThreshold: 60 },
          // Would fail at once and restart the container, if it ran.
          livenessProbe: { exec: { command: ['cat', '/tmp/alive'] }, periodSeconds: 1, failureThreshold: 1, terminationGracePeriodSeconds: 1 },
          readinessProbe: { exec: { command: ['true'] }, periodSeconds: 1 },
        },
      ],
    });
    await node.waitStatus('startup', 'Running', (s) => s.containerStatuses?.[0]?.state.running !== undefined);
    await sleep(5000);
    const held = node.status('startup')!;
    assert.equal(held.containerStatuses?.[0]?.restartCount, 0);
    assert.equal(held.containerStatuses?.[0]?.started, false);
    assert.equal(held.containerStatuses?.[0]?.ready, false, 'not ready before started');
    assert.equal(node.eventsOf('startup', 'Killing').length, 0);
    assert.ok(node.eventsOf('startup', 'Unhealthy').every((e) => e.message.startsWith('Startup probe failed: ')));
    await node.exec('startup', 'c', ['touch', '/tmp/started']);
    await node.waitStatus('startup', 'started', (s) => s.containerStatuses?.[0]?.started === true, 20_000);
    // Now liveness runs, fails and restarts the container.
    const restarted = await node.waitStatus('startup', 'restarted by liveness', (s) => (s.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 30_000);
    assert.equal(restarted.containerStatuses?.[0]?.restartCount, 1);
    assert.ok(node.eventsOf('startup', 'Unhealthy').some((e) => e.message.startsWith('Liveness probe failed: ')));
    // Killing is recorded when the sync that killed and restarted the container returns; the
    // PLEG may show the new container first (seen once in a full run), so wait for it.
    const killing = await waitFor('Killing event', () => node.eventsOf('startup', 'Killing')[0], 10_000);
    assert.equal(killing.message, 'Container c failed liveness probe, will be restarted');
    node.removePod('startup');
  });

  it('httpGet by port name and tcpSocket against httpd in the container', async () => {
    node.writePod('web', {
      containers: [
        {
          name: 'web',
          command: ['sh', '-c', 'mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 8080 -h /www'],
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1, failureThreshold: 1 },
          livenessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
        },
      ],
    });
    const ready = await node.waitStatus('web', 'Ready', (s) => cond(s, 'Ready') === 'True', 30_000);
    assert.ok(ready.podIP && ready.podIP !== '127.0.0.1', `pod IP ${String(ready.podIP)}`);
    await node.exec('web', 'web', ['rm', '/www/healthz']);
    await node.waitStatus('web', 'unready on 404', (s) => cond(s, 'Ready') === 'False', 20_000);
    assert.ok(node.eventsOf('web', 'Unhealthy').some((e) => e.message === 'Readiness probe failed: HTTP probe failed with statuscode: 404'));
    const text = await node.kubelet.probes.metricsText();
    const uid = node.pod('web')?.metadata.uid ?? '';
    const line = (type: string, result: string): RegExp =>
      new RegExp(
        `^prober_probe_total\\{probe_type="${type}",result="${result}",container="web",pod="web-${node.nodeName}",namespace="default",pod_uid="${uid}"\\} [1-9]\\d*$`,
        'm',
      );
    assert.match(text, line('Readiness', 'successful'));
    assert.match(text, line('Readiness', 'failed'));
    assert.match(text, line('Liveness', 'successful'));
    assert.match(text, /^prober_probe_duration_seconds_count\{probe_type="Liveness",container="web",pod="web-node-p",namespace="default"\} [1-9]/m);
    assert.equal(node.status('web')?.containerStatuses?.[0]?.restartCount, 0, 'tcpSocket liveness passes');
    node.removePod('web');
    // A pod that is gone takes its prober series with it (upstream deletes them with the worker).
    await waitFor('web gone', () => (node.pod('web') ? undefined : true), 30_000, 200);
    assert.doesNotMatch(await node.kubelet.probes.metricsText(), /pod="web-node-p"/);
  });

  it('grpc health: SERVING makes a host-network pod ready, NOT_SERVING unready', async () => {
    serving = 'NOT_SERVING';
    node.writePod('grpc', {
      hostNetwork: true,
      containers: [{ name: 'c', command: ['sleep', '3600'], readinessProbe: { grpc: { port: grpcPort }, periodSeconds: 1, failureThreshold: 1 } }],
    });
    await node.waitStatus('grpc', 'Running', (s) => s.containerStatuses?.[0]?.state.running !== undefined);
    await sleep(2500);
    assert.equal(cond(node.status('grpc')!, 'Ready'), 'False');
    assert.ok(node.eventsOf('grpc', 'Unhealthy').some((e) => e.message === 'Readiness probe failed: service unhealthy (responded with "NOT_SERVING")'));
    serving = 'SERVING';
    await node.waitStatus('grpc', 'Ready', (s) => cond(s, 'Ready') === 'True', 20_000);
    serving = 'NOT_SERVING';
    await node.waitStatus('grpc', 'unready', (s) => cond(s, 'Ready') === 'False', 20_000);
    node.removePod('grpc');
  });
});
