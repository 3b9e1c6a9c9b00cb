// The Service cache's list+watch against a small HTTP server playing the API server's service
// list and watch (the boundary under test): synced after the first list, watch events applied,
// relist on 410 Gone replacing the cache, and "not synced" while the list fails (the kubelet
// then holds API pods back with upstream's error), synced once it succeeds.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../../src/api/client.js';
import { ServiceCache } from '../../src/api/service-cache.js';
import type { ServiceObject } from '../../src/volumes/service-env.js';

function svc(ns: string, name: string, rv: string, ip = '10.0.0.9'): ServiceObject {
  return { metadata: { namespace: ns, name, resourceVersion: rv }, spec: { clusterIP: ip, ports: [{ port: 80 }] } };
}

interface Script {
  /** One per list call; `fail` answers 500. */
  lists: ({ rv: string; items: ServiceObject[] } | 'fail')[];
  watches: { lines: unknown[]; hold?: boolean }[];
}

function fakeApi(script: Script): Promise<{ server: Server; url: string; calls: string[] }> {
  const calls: string[] = [];
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const watch = u.searchParams.get('watch');
    calls.push(`${u.pathname} ${watch ? 'watch' : 'list'} rv=${u.searchParams.get('resourceVersion') ?? ''}`);
    if (!watch) {
      const l = script.lists.shift();
      if (!l || l === 'fail') {
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"kind":"Status","code":500,"message":"etcd unavailable"}');
        return;
      }
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ kind: 'ServiceList', metadata: { resourceVersion: l.rv }, items: l.items }));
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

const names = (c: ServiceCache): string[] =>
  c
    .list()
    .map((s) => `${s.metadata.namespace ?? ''}/${s.metadata.name ?? ''}@${s.spec?.clusterIP ?? ''}`)
    .sort();

describe('service cache', () => {
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) s.closeAllConnections();
    for (const s of servers) s.close();
  });

  it('lists all namespaces, then applies watch events and resumes from the last resourceVersion', async () => {
    const { server, url, calls } = await fakeApi({
      lists: [{ rv: '10', items: [svc('default', 'kubernetes', '5', '10.0.0.1'), svc('shop', 'web', '6'), svc('shop', 'old', '7')] }],
      watches: [
        {
          lines: [
            { type: 'ADDED', object: svc('shop', 'db', '11', '10.0.0.3') },
            { type: 'MODIFIED', object: svc('shop', 'web', '12', '10.0.0.2') },
            { type: 'DELETED', object: svc('shop', 'old', '13') },
            { type: 'BOOKMARK', object: { kind: 'Service', metadata: { resourceVersion: '15' } } },
          ],
        },
      ],
    });
    servers.push(server);
    const client = new ApiClient({ server: url }, { qps: 0, burst: 0 });
    const cache = new ServiceCache({ client, random: () => 0 });
    assert.equal(cache.synced, false);
    cache.start();
    assert.equal(await cache.waitSynced(5000), true);
    // The next watch holds: by the time it was asked for, the first one's events are all in.
    for (let i = 0; i < 200 && calls.length < 3; i++) await sleep(10);
    const after = names(cache);
    cache.stop();
    client.close();
    assert.deepEqual(calls, ['/api/v1/services list rv=', '/api/v1/services watch rv=10', '/api/v1/services watch rv=15']);
    assert.deepEqual(after, ['default/kubernetes@10.0.0.1', 'shop/db@10.0.0.3', 'shop/web@10.0.0.2']);
    assert.deepEqual(cache.stats, { lists: 1, watches: 2, events: 3, relistsOnGone: 0, errors: 0 });
  });

  it('relists on 410 Gone, the new list replacing the whole cache', async () => {
    const { server, url, calls } = await fakeApi({
      lists: [
        { rv: '10', items: [svc('shop', 'web', '6')] },
        { rv: '50', items: [svc('shop', 'db', '45', '10.0.0.3')] },
      ],
      watches: [{ lines: [{ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } }] }],
    });
    servers.push(server);
    const client = new ApiClient({ server: url }, { qps: 0, burst: 0 });
    const cache = new ServiceCache({ client, random: () => 0 });
    cache.start();
    for (let i = 0; i < 200 && calls.length < 4; i++) await sleep(10);
    const after = names(cache);
    cache.stop();
    client.close();
    assert.deepEqual(calls, ['/api/v1/services list rv=', '/api/v1/services watch rv=10', '/api/v1/services list rv=', '/api/v1/services watch rv=50']);
    assert.deepEqual(after, ['shop/db@10.0.0.3']);
    assert.equal(cache.stats.relistsOnGone, 1);
  });

  it('not synced while the list fails (waitSynced gives up), synced after the retry succeeds', async () => {
    const { server, url } = await fakeApi({ lists: ['fail', { rv: '3', items: [svc('default', 'kubernetes', '2', '10.0.0.1')] }], watches: [] });
    servers.push(server);
    const client = new ApiClient({ server: url }, { qps: 0, burst: 0 });
    const cache = new ServiceCache({ client, random: () => 0 });
    cache.start();
    assert.equal(await cache.waitSynced(150), false, 'the first list failed; the retry waits 400 ms');
    assert.equal(cache.synced, false);
    assert.deepEqual(cache.list(), []);
    assert.match(cache.lastError, /etcd unavailable|500/);
    assert.equal(await cache.waitSynced(5000), true);
    assert.deepEqual(names(cache), ['default/kubernetes@10.0.0.1']);
    cache.stop();
    client.close();
    assert.equal(await cache.waitSynced(10), true, 'stays synced');
  });
});
