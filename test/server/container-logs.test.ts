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

  it('parses records, joins partial lines, skips garbage', () => {
    const p = new CriLogParser();
    const recs = p.push(LOG.slice(0, 50));
    const rest = p.push(LOG.slice(50));
    const all = [...recs, ...rest];
    assert.deepEqual(all.map((r) => `${r.stream}:${r.text}`), ['stdout:one', 'stderr:two', 'stdout:three', 'stdout:four']);
    assert.equal(all[2]!.time, '2026-11-22T10:00:02.000000000Z', 'a joined line keeps its first time');
    assert.equal(p.malformed, 1);
  });

  it('serves kubectl logs options', async () => {
    assert.equal(await read({}), 'one\ntwo\nthree\nfour\n');
    assert.equal(await read({ tailLines: 2 }), 'three\nfour\n');
    assert.equal(await read({ tailLines: 0 }), '');
    assert.equal(await read({ sinceMs: Date.parse('2026-11-22T10:00:01.5Z') }), 'three\nfour\n');
    assert.equal(await read({ timestamps: true, tailLines: 1 }), '2026-11-22T10:00:03.000000000Z four\n');
    assert.equal(await read({ limitBytes: 6 }), 'one\ntw');
    assert.equal(await read({ streams: ['stderr'] }), 'two\n');
  });

  it('follows new lines until aborted', async () => {
    const ac = new AbortController();
    let out = '';
    const done = streamContainerLog(file, { follow: true, tailLines: 1 }, (t) => {
      out += t;
      return true;
    }, ac.signal);
    await waitFor('tail', () => (out === 'four\n' ? true : undefined), 3000);
    appendFileSync(file, '2026-11-22T10:00:04.000000000Z stdout F five\n');
    await waitFor('followed line', () => (out === 'four\nfive\n' ? true : undefined), 5000);
    ac.abort();
    await done;
  });
});
