// The API pod source's protocol handling against a small HTTP server playing the API server's
// pod list and watch (the boundary under test): list then watch from the list's
// resourceVersion, resume after the server closes a watch, relist on 410 Gone, mirror pods kept
// apart, and the current pods kept through errors.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../../src/api/client.js';
import { ApiSource } from '../../src/sources/api-source.js';
import type { Pod } from '../../src/api/core-v1.js';

function pod(name: string, rv: string, mirror = false): Pod {
  return {
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      resourceVersion: rv,
      ...(mirror ? { annotations: { 'kubernetes.io/config.mirror': 'h' } } : {}),
    },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'i' }] },
  };
}

interface Script {
  lists: { rv: string; items: Pod[] }[];
  /** One entry per watch call: lines to send, then close (or hold open). */
  watches: { lines: unknown[]; hold?: boolean }[];
}

function fakeApi(script: Script): Promise<{ server: Server; url: string; calls: string[] }> {
  const calls: string[] = [];
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    calls.push(
      `${u.searchParams.get('watch') ? 'watch' : 'list'} rv=${u.searchParams.get('resourceVersion') ?? ''} fs=${u.searchParams.get('fieldSelector') ?? ''}`,
    );
    if (!u.searchParams.get('watch')) {
      const l = script.lists.shift();
      if (!l) {
        res.writeHead(500).end('{"kind":"Status","code":500,"message":"no more lists"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'PodList', metadata: { resourceVersion: l.rv }, items: l.items }));
      return;
    }
    const w = script.watches.shift();
    res.writeHead(200, { 'content-type': 'application/json' });
    if (!w) return; // hold forever
    for (const line of w.lines) res.write(`${JSON.stringify(line)}\n`);
    if (!w.hold) res.end();
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls })),
  );
}

describe('API pod source', () => {
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) s.closeAllConnections();
    for (const s of servers) s.close();
  });

  it('lists, watches from the list resourceVersion, resumes after a close, relists on 410, keeps mirror pods apart', async () => {
    const { server, url, calls } = await fakeApi({
      lists: [
        { rv: '10', items: [pod('a', '5'), pod('m', '6', true)] },
        { rv: '50', items: [pod('b', '40')] },
      ],
      watches: [
        {
          lines: [
            { type: 'ADDED', object: pod('b', '11') },
            { type: 'BOOKMARK', object: { kind: 'Pod', metadata: { resourceVersion: '15' } } },
          ],
        },
        {
          lines: [
            { type: 'DELETED', object: pod('a', '16') },
            { type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } },
          ],
        },
      ],
    });
    servers.push(server);
    const client = new ApiClient({ server: url }, { qps: 0, burst: 0 });
    const log: string[] = [];
    const source = new ApiSource({
      client,
      nodeName: 'n1',
      onFullSet: (pods) => log.push(`set ${pods.map((p) => p.metadata.name).join(',')}`),
      onDelta: (up, del) => log.push(`delta +${up.map((p) => p.metadata.name).join(',')} -${del.map((p) => p.metadata.name).join(',')}`),
      onMirror: (ev) => log.push(`mirror ${ev.type}`),
      random: () => 0,
    });
    source.start();
    for (let i = 0; i < 100 && calls.length < 5; i++) await sleep(20);
    source.stop();
    client.close();
    assert.deepEqual(calls, [
      'list rv= fs=spec.nodeName=n1',
      'watch rv=10 fs=spec.nodeName=n1',
      'watch rv=15 fs=spec.nodeName=n1',
      'list rv= fs=spec.nodeName=n1',
      'watch rv=50 fs=spec.nodeName=n1',
    ]);
    assert.deepEqual(log, ['mirror set', 'set a', 'delta +b -', 'delta + -a', 'mirror set', 'set b']);
    assert.equal(source.stats.relistsOnGone, 1);
  });

  it('keeps the current pods through API server errors and retries', async () => {
    const { server, url, calls } = await fakeApi({ lists: [], watches: [] });
    servers.push(server);
    const client = new ApiClient({ server: url }, { qps: 0, burst: 0 });
    let sets = 0;
    const source = new ApiSource({ client, nodeName: 'n1', onFullSet: () => sets++, onDelta: () => undefined, random: () => 0 });
    source.start();
    await sleep(1500);
    source.stop();
    client.close();
    assert.equal(sets, 0, 'a failed list delivers nothing (no empty set that would remove pods)');
    assert.ok(calls.length >= 2, `retried (${calls.length} calls)`);
    assert.match(source.lastError, /500/);
  });
});
