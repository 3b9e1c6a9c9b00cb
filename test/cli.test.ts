// The command line: flag and duration parsing as upstream flags take them, and the entry point
// answering `version` and refusing unknown commands with usage.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { parseDuration, parseFlags, packageVersion } from '../src/cli.js';
import { formatDuration } from '../src/config/duration.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

describe('cli flags', () => {
  it('parses Go-style durations', () => {
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration('1m0s'), 60_000);
    assert.equal(parseDuration('-1s'), -1000);
    assert.equal(formatDuration(60_000), '1m0s');
    assert.equal(formatDuration(90_000), '1m30s');
    assert.equal(formatDuration(500), '500ms');
    assert.equal(formatDuration(3_600_000), '1h0m0s');
  });

  it('refuses malformed durations with a clear message', () => {
    for (const bad of ['', '10', 'm', '5x', '1m 30s', '1d']) {
      assert.throws(() => parseDuration(bad), /invalid duration/, `"${bad}"`);
    }
  });

  it('takes --flag value and --flag=value, and refuses unknown flags', () => {
    const f = parseFlags(['--a', 'x', '--b=y=z', '--c'], ['a', 'b', 'c']);
    assert.deepEqual(
      [...f],
      [
        ['a', 'x'],
        ['b', 'y=z'],
        ['c', 'true'],
      ],
    );
    assert.throws(() => parseFlags(['--nope'], ['a']), /unknown flag --nope/);
    assert.throws(() => parseFlags(['stray'], ['a']), /unexpected argument "stray"/);
  });
});

describe('cli entry point', () => {
  it('prints the package version', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'version']);
    assert.equal(stdout.trim(), `kubelet-ts ${packageVersion()}`);
  });

  it('refuses an unknown command with usage and exit code 2', async () => {
    await assert.rejects(run(process.execPath, [CLI, 'frobnicate']), (err: { code?: number; stderr?: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr ?? '', /unknown command "frobnicate"/);
      assert.match(err.stderr ?? '', /Usage: kubelet-ts/);
      return true;
    });
  });

  it('cri-check against a dead socket fails with one clear line, not a stack trace', async () => {
    await assert.rejects(
      run(process.execPath, [CLI, 'cri-check', '--runtime-endpoint', 'unix:///nonexistent/kts.sock', '--runtime-request-timeout', '5s']),
      (err: { code?: number; stderr?: string }) => {
        assert.equal(err.code, 1);
        assert.match(err.stderr ?? '', /^kubelet-ts: .*KTS_CRI_/);
        assert.doesNotMatch(err.stderr ?? '', /\n\s+at /, 'no stack trace');
        return true;
      },
    );
  });
});
