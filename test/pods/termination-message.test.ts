// Termination messages from the host file mounted at terminationMessagePath, and from the log
// tail with FallbackToLogsOnError, on real files: the limits (4096 bytes of file, 80 lines /
// 2048 bytes of log) and when the logs are read at all (empty file and a non-zero exit).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerStatus__Output } from '../../src/gen/cri/runtime/v1/ContainerStatus.js';
import { containerMessage, lastLogLines, terminationMessageMount } from '../../src/pods/termination-message.js';

const dir = mkdtempSync(join(tmpdir(), 'kts-tmsg-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let seq = 0;
function status(o: {
  exitCode: number;
  policy?: 'File' | 'FallbackToLogsOnError';
  file?: string;
  log?: string;
  message?: string;
  state?: 'CONTAINER_EXITED' | 'CONTAINER_RUNNING';
}): ContainerStatus__Output {
  seq++;
  const hostPath = join(dir, `msg-${seq}`);
  if (o.file !== undefined) writeFileSync(hostPath, o.file);
  const logPath = join(dir, `log-${seq}`);
  if (o.log !== undefined) writeFileSync(logPath, o.log);
  return {
    id: `c${seq}`,
    state: o.state ?? 'CONTAINER_EXITED',
    exitCode: o.exitCode,
    reason: o.exitCode === 0 ? 'Completed' : 'Error',
    message: o.message ?? '',
    annotations: {
      'io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
      'io.kubernetes.container.terminationMessagePolicy': o.policy ?? 'File',
    },
    mounts: [
      {
        containerPath: '/dev/termination-log',
        hostPath,
        readonly: false,
        selinuxRelabel: false,
        propagation: 'PROPAGATION_PRIVATE',
        uidMappings: [],
        gidMappings: [],
      },
    ],
    logPath,
    labels: {},
  } as unknown as ContainerStatus__Output;
}

function criLog(lines: string[]): string {
  return lines.map((l, i) => `2026-12-02T07:00:${String(i % 60).padStart(2, '0')}.000000000Z ${i % 2 ? 'stderr' : 'stdout'} F ${l}\n`).join('');
}

describe('termination message', () => {
  it('makes a fresh empty host file per container instance under pods/<uid>/containers/<name>', async () => {
    const a = await terminationMessageMount(dir, 'uid1', { name: 'c' });
    const b = await terminationMessageMount(dir, 'uid1', { name: 'c', terminationMessagePath: '/tmp/msg' });
    assert.equal(a?.containerPath, '/dev/termination-log');
    assert.equal(b?.containerPath, '/tmp/msg');
    assert.notEqual(a?.hostPath, b?.hostPath);
    assert.match(a?.hostPath ?? '', /\/uid1\/containers\/c\/[0-9a-f]{8}$/);
    assert.equal(statSync(a.hostPath).size, 0);
    // Writable by any user of the container, whatever the umask (upstream chmods to 0666).
    assert.equal(statSync(a.hostPath).mode & 0o777, 0o666);
    assert.equal(readdirSync(join(dir, 'uid1', 'containers', 'c')).length, 2);
    assert.equal(await terminationMessageMount(dir, 'uid1', { name: 'c', terminationMessagePath: '' }), undefined);
  });

  it('takes the file content once the container exited, whatever the exit code', () => {
    assert.equal(containerMessage(status({ exitCode: 0, file: 'all done\n' })), 'all done\n');
    assert.equal(containerMessage(status({ exitCode: 3, file: 'bad config' })), 'bad config');
    assert.equal(containerMessage(status({ exitCode: 0, file: 'x', state: 'CONTAINER_RUNNING' })), '', 'not while running');
  });

  it('keeps the last 4096 bytes of a longer file', () => {
    const m = containerMessage(status({ exitCode: 1, file: 'a'.repeat(1000) + 'b'.repeat(4096) }));
    assert.equal(m, 'b'.repeat(4096));
  });

  it('joins the runtime message and the termination message with ": "', () => {
    assert.equal(containerMessage(status({ exitCode: 137, file: 'bye', message: 'runtime said' })), 'runtime said: bye');
    assert.equal(containerMessage(status({ exitCode: 137, file: '', message: 'runtime said' })), 'runtime said');
  });

  it('FallbackToLogsOnError: an empty file and a non-zero exit give the last 80 log lines', () => {
    const lines = Array.from({ length: 100 }, (_, i) => `line ${i}`);
    const m = containerMessage(status({ exitCode: 2, policy: 'FallbackToLogsOnError', file: '', log: criLog(lines) }));
    assert.equal(
      m,
      lines
        .slice(20)
        .map((l) => `${l}\n`)
        .join(''),
    );
  });

  it('FallbackToLogsOnError: at most the last 2048 bytes of those lines', () => {
    const lines = Array.from({ length: 50 }, (_, i) => `${String(i).padStart(2, '0')}${'x'.repeat(97)}`);
    const m = containerMessage(status({ exitCode: 1, policy: 'FallbackToLogsOnError', file: '', log: criLog(lines) }));
    assert.equal(Buffer.byteLength(m), 2048);
    assert.ok(m.endsWith(`49${'x'.repeat(97)}\n`));
  });

  it('FallbackToLogsOnError: no logs on exit 0, and the file wins when it has content', () => {
    assert.equal(containerMessage(status({ exitCode: 0, policy: 'FallbackToLogsOnError', file: '', log: criLog(['hello']) })), '');
    assert.equal(containerMessage(status({ exitCode: 1, policy: 'FallbackToLogsOnError', file: 'from file', log: criLog(['hello']) })), 'from file');
    assert.equal(containerMessage(status({ exitCode: 1, policy: 'File', file: '', log: criLog(['hello']) })), '', 'policy File never reads logs');
  });

  it('a missing message file with FallbackToLogsOnError reads the logs; unreadable logs say so', () => {
    assert.equal(containerMessage(status({ exitCode: 1, policy: 'FallbackToLogsOnError', log: criLog(['only log']) })), 'only log\n');
    assert.match(lastLogLines(join(dir, 'no-such-log')), /^Error on reading termination message from logs: ENOENT/);
  });

  it('a last partial (P) record is the message: output without a final newline', () => {
    writeFileSync(join(dir, 'nonl.log'), '2026-12-02T07:00:00.000000000Z stdout P DONE\n');
    assert.equal(lastLogLines(join(dir, 'nonl.log')), 'DONE');
    assert.equal(
      containerMessage(status({ exitCode: 1, policy: 'FallbackToLogsOnError', file: '', log: '2026-12-02T07:00:00.000000000Z stdout P DONE\n' })),
      'DONE',
    );
  });

  it('joins partial (P) log records into one line', () => {
    const log = '2026-12-02T07:00:00.000000000Z stdout P abc\n2026-12-02T07:00:00.000000000Z stdout F def\n';
    assert.equal(lastLogLines(join(dir, 'p.log')).startsWith('Error'), true);
    writeFileSync(join(dir, 'p.log'), log);
    assert.equal(lastLogLines(join(dir, 'p.log')), 'abcdef\n');
  });
});
