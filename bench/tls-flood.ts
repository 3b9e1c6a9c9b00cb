// A flood of connections that never finish their TLS handshake, against a standalone kubelet-ts
// (a child process on its embedded sim), and what it costs in RSS during and after (issue 16,
// finding 8: 5,000 half-open connections took the RSS from 155 to 765 MB, and it stayed above
// 570 MB). A benchmark: it prints figures and writes a report; nothing here is asserted.
//
//   node dist/bench/tls-flood.js --connections 5000 --hold 20 --after 30
//   node dist/bench/tls-flood.js --cli /path/to/other/build/dist/src/cli.js   # another build
//
// Each connection is a TCP connect to the HTTPS port followed by the first 60 bytes of a TLS
// ClientHello (a handshake that never completes), opened 200 at a time. RSS is the child's VmRSS,
// sampled every 500 ms; "open" is how many of our sockets the server had not closed at the end
// of the hold.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseFlags } from '../src/cli.js';
import { createCa } from '../src/native/certs.js';
import { stopChild } from '../src/util/child-process.js';

const flags = parseFlags(process.argv.slice(2), ['connections', 'hold', 'after', 'cli']);
const connections = Number(flags.get('connections') ?? 5000);
const holdS = Number(flags.get('hold') ?? 20);
const afterS = Number(flags.get('after') ?? 30);
const cli = flags.get('cli') ?? join(process.cwd(), 'dist/src/cli.js');

function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m?.[1] ? Number(m[1]) * 1024 : 0;
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

// The start of a TLS 1.2 ClientHello record: enough for the server to begin a handshake.
const PARTIAL_HELLO = Buffer.from('160301012c010001280303' + '00'.repeat(49), 'hex');

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kts-tls-flood-'));
  const ca = await createCa(join(dir, 'ca'));
  const serving = await ca.issueServer('flood', ['localhost', '127.0.0.1']);
  mkdirSync(join(dir, 'manifests'));
  const port = await freePort();
  const healthz = await freePort();
  const child = spawn(
    process.execPath,
    [
      cli,
      '--embedded-runtime',
      'sim',
      '--hostname-override',
      'flood',
      '--root-dir',
      join(dir, 'root'),
      '--cert-dir',
      join(dir, 'pki'),
      '--tls-cert-file',
      serving.certFile,
      '--tls-private-key-file',
      serving.keyFile,
      '--client-ca-file',
      ca.caFile,
      '--authorization-mode',
      'AlwaysAllow',
      '--address',
      '127.0.0.1',
      '--port',
      String(port),
      '--healthz-port',
      String(healthz),
      '--pod-manifest-path',
      join(dir, 'manifests'),
    ],
    { stdio: 'ignore' },
  );
  const pid = child.pid ?? 0;
  try {
    for (let i = 0; ; i++) {
      const ok = await fetch(`http://127.0.0.1:${healthz}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (i > 100) throw new Error('the kubelet did not come up');
      await sleep(200);
    }
    await sleep(3000);
    const baseline = rss(pid);
    const socks: Socket[] = [];
    let closedByServer = 0;
    let refused = 0;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rss(pid));
    }, 500);
    for (let at = 0; at < connections; at += 200) {
      await Promise.all(
        Array.from(
          { length: Math.min(200, connections - at) },
          () =>
            new Promise<void>((resolve) => {
              const s = connect({ host: '127.0.0.1', port });
              socks.push(s);
              s.on('connect', () => {
                s.write(PARTIAL_HELLO);
                resolve();
              });
              s.on('error', () => {
                refused++;
                resolve();
              });
              s.on('close', () => closedByServer++);
            }),
        ),
      );
    }
    const opened = Date.now();
    await sleep(holdS * 1000);
    const openAtEnd = socks.filter((s) => !s.destroyed && s.readyState === 'open').length;
    const closedDuringHold = closedByServer;
    const healthzDuring = await fetch(`http://127.0.0.1:${healthz}/healthz`).then(
      (r) => r.status,
      () => 0,
    );
    for (const s of socks) s.destroy();
    await sleep(afterS * 1000);
    clearInterval(sampler);
    const after = rss(pid);
    const mb = (b: number): string => `${(b / 1e6).toFixed(0)} MB`;
    const result = {
      cli,
      connections,
      holdS,
      afterS,
      baselineBytes: baseline,
      peakBytes: peak,
      afterBytes: after,
      openAtEndOfHold: openAtEnd,
      closedByServer: closedDuringHold,
      refused,
      heldForS: (Date.now() - opened) / 1000,
      healthzDuring,
    };
    process.stdout.write(`tls-flood: ${connections} half-open TLS connections, held ${holdS} s, then ${afterS} s idle\n`);
    process.stdout.write(`  RSS baseline ${mb(baseline)}, peak ${mb(peak)}, ${afterS} s after ${mb(after)}\n`);
    process.stdout.write(
      `  still open at the end of the hold: ${openAtEnd}; closed by the server during the hold: ${closedDuringHold}; connect errors (refused over the limit): ${refused}; /healthz during the flood: ${healthzDuring}\n`,
    );
    mkdirSync('bench/reports', { recursive: true });
    const file = join('bench/reports', `tls-flood-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`  report: ${file}\n`);
  } finally {
    await stopChild(child, 5000);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
