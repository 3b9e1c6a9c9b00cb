// Container log reading as `kubectl logs` uses it: CRI records, partial lines, tail, since,
// timestamps, limitBytes, follow until aborted.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CriLogParser, streamContainerLog, type LogOptions } from '../../src/server/container-logs.js';
import { waitFor } from '../helpers/cri-fixtures.js';

const LOG = [
  '2026-11-22T10:00:00.000000001Z stdout F one',
  '2026-11-22T10:00:01.000000000Z stderr F two',
  '2026-11-22T10:00:02.000000000Z stdout P thr',
  '2026-11-22T10:00:02.100000000Z stdout F ee',
  'garbage line',
  '2026-11-22T10:00:03.000000000Z stdout F four',
  '',
].join('\n');

describe('container logs', () => {
  let dir: string;
  let file: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kts-logs-'));
    file = join(dir, '0.log');
    writeFileSync(file, LOG);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function read(opts: LogOptions): Promise<string> {
    let out = '';
    await streamContainerLog(file, opts, (t) => {
      out += t;
      return true;
    });
    return out;
  }

  it('parses records (partial ones marked), skips garbage', () => {
    const p = new CriLogParser();
    const recs = p.push(LOG.slice(0, 50));
    const rest = p.push(LOG.slice(50));
    const all = [...recs, ...rest];
    assert.deepEqual(
      all.map((r) => `${r.stream}:${r.text}${r.partial ? ':P' : ''}`),
      ['stdout:one', 'stderr:two', 'stdout:thr:P', 'stdout:ee', 'stdout:four'],
    );
    assert.equal(all[2]!.time, '2026-11-22T10:00:02.000000000Z');
    assert.equal(p.malformed, 1);
  });

  it('serves kubectl logs options', async () => {
    assert.equal(await read({}), 'one\ntwo\nthree\nfour\n');
    // Records as upstream counts them: the partial 'thr' is a line of its own for tailLines.
    assert.equal(await read({ tailLines: 2 }), 'ee\nfour\n');
    assert.equal(await read({ tailLines: 3 }), 'three\nfour\n');
    assert.equal(await read({ tailLines: 0 }), '');
    assert.equal(await read({ sinceMs: Date.parse('2026-11-22T10:00:01.5Z') }), 'three\nfour\n');
    assert.equal(await read({ sinceMs: Date.parse('2026-11-22T10:00:02.05Z') }), 'ee\nfour\n');
    // Each record has its own time, the partial one too (upstream's output, byte for byte).
    assert.equal(
      await read({ timestamps: true, tailLines: 3 }),
      '2026-11-22T10:00:02.000000000Z thr2026-11-22T10:00:02.100000000Z ee\n2026-11-22T10:00:03.000000000Z four\n',
    );
    assert.equal(await read({ timestamps: true, tailLines: 1 }), '2026-11-22T10:00:03.000000000Z four\n');
    assert.equal(await read({ limitBytes: 6 }), 'one\ntw');
    assert.equal(await read({ streams: ['stderr'] }), 'two\n');
  });

  it('keeps output that never ended in a newline (a last partial record): logs, tail, limitBytes', async () => {
    const f = join(dir, 'nonl.log');
    writeFileSync(f, '2026-11-22T10:00:00.000000000Z stdout F first\n2026-11-22T10:00:01.000000000Z stdout P DONE\n');
    const readFile = async (opts: LogOptions): Promise<string> => {
      let out = '';
      await streamContainerLog(f, opts, (t) => {
        out += t;
        return true;
      });
      return out;
    };
    assert.equal(await readFile({}), 'first\nDONE');
    assert.equal(await readFile({ tailLines: 1 }), 'DONE');
    assert.equal(await readFile({ limitBytes: 8 }), 'first\nDO');
    assert.equal(await readFile({ timestamps: true, tailLines: 1 }), '2026-11-22T10:00:01.000000000Z DONE');
    // Only a P record: the output of `echo -n DONE`.
    writeFileSync(f, '2026-11-22T10:00:01.000000000Z stdout P DONE\n');
    assert.equal(await readFile({}), 'DONE');
  });

  it('a multi-byte character across two reads stays whole', async () => {
    const f = join(dir, 'utf8.log');
    const prefix = '2026-11-22T10:00:00.000000000Z stdout F ';
    // 64 KiB reads: put a 3-byte character across the first boundary.
    const pad = 'x'.repeat(64 * 1024 - prefix.length - 1);
    writeFileSync(f, `${prefix}${pad}\u20ac!\n`);
    let out = '';
    await streamContainerLog(f, {}, (t) => {
      out += t;
      return true;
    });
    assert.equal(out, `${pad}\u20ac!\n`);
  });

  it('follows new lines until aborted', async () => {
    const ac = new AbortController();
    let out = '';
    const done = streamContainerLog(
      file,
      { follow: true, tailLines: 1 },
      (t) => {
        out += t;
        return true;
      },
      ac.signal,
    );
    await waitFor('tail', () => (out === 'four\n' ? true : undefined), 3000);
    appendFileSync(file, '2026-11-22T10:00:04.000000000Z stdout F five\n');
    await waitFor('followed line', () => (out === 'four\nfive\n' ? true : undefined), 5000);
    ac.abort();
    await done;
  });
});
