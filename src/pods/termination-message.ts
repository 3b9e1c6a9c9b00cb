// Termination messages, as upstream's kuberuntime: before CreateContainer a fresh empty host file
// (`<root-dir>/pods/<uid>/containers/<name>/<8 hex>`) is mounted at the container's
// terminationMessagePath (default /dev/termination-log); once the container has exited, that
// file (its last 4096 bytes) becomes `state.terminated.message`. With FallbackToLogsOnError, an
// empty (or missing) file and a non-zero exit, the tail of the container's log is the message:
// its last 80 lines, then the last 2048 bytes of those. The runtime's own message (containerd
// 1.6 leaves it empty for exited containers) comes first, joined with ": ", as upstream.
//
// Runs where container statuses are built (the PLEG thread, pool threads): small synchronous
// reads, done once per exited container and then cached by container ID (an exited container's
// files no longer change).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { joinUnder } from '../util/safe-path.js';
import type { ContainerStatus__Output } from '../gen/cri/runtime/v1/ContainerStatus.js';
import { CriLogParser, formatRecord } from '../server/container-logs.js';
import { ANNOTATION_TERMINATION_MESSAGE_PATH, ANNOTATION_TERMINATION_MESSAGE_POLICY } from './runtime-state.js';

/** Upstream MaxContainerTerminationMessageLength. */
export const MAX_MESSAGE_BYTES = 4096;
/** Upstream MaxContainerTerminationMessageLogLength and MaxContainerTerminationMessageLogLines. */
export const MAX_LOG_BYTES = 2048;
export const MAX_LOG_LINES = 80;
/** How much of a log file's end is read to find its last lines. */
const LOG_WINDOW_BYTES = 256 * 1024;
const CACHE_SIZE = 4096;

const cache = new Map<string, string>();

/**
 * Creates the host file for a container's termination message; returns the CRI mount, or
 * undefined when the container has no terminationMessagePath (upstream: nothing mounted).
 */
export async function terminationMessageMount(
  podsDir: string,
  uid: string,
  container: { name: string; terminationMessagePath?: string },
): Promise<{ containerPath: string; hostPath: string } | undefined> {
  const containerPath = container.terminationMessagePath ?? '/dev/termination-log';
  if (containerPath === '') return undefined;
  // UID and name come from the pod: refused (UnsafePathError) unless each is one plain component.
  const dir = joinUnder(podsDir, [uid, 'containers', container.name], ['pod uid', 'folder', 'container name']);
  // Asynchronous: a sync thread runs several pods' syncs, and a blocking write stalls them all
  // (the profile of a 1000-pod burst had 1.4 s per pool thread in synchronous mkdir and open).
  await mkdir(dir, { recursive: true });
  // A new file per container instance: an old instance's message never shows for a new one.
  const hostPath = join(dir, randomBytes(4).toString('hex'));
  // Any user of the container writes it (runAsUser 1000 too): the mode given to open() loses the
  // umask's bits (0644 under the usual 022), so it is set again, as upstream's Chmod.
  await writeFile(hostPath, '', { mode: 0o666 });
  await chmod(hostPath, 0o666);
  return { containerPath, hostPath };
}

/** The last `max` bytes of a file. */
function tail(path: string, max: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, max);
    const buf = Buffer.alloc(len);
    let off = 0;
    while (off < len) {
      const n = readSync(fd, buf, off, len - off, size - len + off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The log's end as upstream reads it for the message: its last 80 records as `kubectl logs
 * --tail=80` writes them (a partial record keeps its text, without a newline), then the last
 * 2048 bytes of that.
 */
export function lastLogLines(logPath: string): string {
  try {
    const buf = tail(logPath, LOG_WINDOW_BYTES);
    // A window that starts mid-record: drop its first, cut line.
    const window = buf.length === LOG_WINDOW_BYTES ? buf.subarray(buf.indexOf(0x0a) + 1) : buf;
    const text = window.toString('utf8');
    const parser = new CriLogParser();
    const records = parser.push(text.endsWith('\n') ? text : `${text}\n`);
    const lines = records
      .slice(-MAX_LOG_LINES)
      .map((r) => formatRecord(r, false))
      .join('');
    const bytes = Buffer.from(lines, 'utf8');
    return bytes.length > MAX_LOG_BYTES ? bytes.subarray(bytes.length - MAX_LOG_BYTES).toString('utf8') : lines;
  } catch (err) {
    return `Error on reading termination message from logs: ${errorText(err)}`;
  }
}

/** The message file's content and whether the logs should be read instead (upstream getTerminationMessage). */
function fromFile(s: ContainerStatus__Output, path: string, fallbackToLogs: boolean): { message: string; checkLogs: boolean } {
  if (path === '') return { message: '', checkLogs: fallbackToLogs };
  const mount = s.mounts.find((m) => m.containerPath === path);
  if (!mount) return { message: '', checkLogs: fallbackToLogs };
  try {
    const data = tail(mount.hostPath, MAX_MESSAGE_BYTES).toString('utf8');
    return { message: data, checkLogs: fallbackToLogs && data.length === 0 };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { message: '', checkLogs: fallbackToLogs };
    return { message: `Error on reading termination log ${mount.hostPath}: ${errorText(err)}`, checkLogs: false };
  }
}

/** The message of a container status: the runtime's, enriched with the termination message once it exited. */
export function containerMessage(s: ContainerStatus__Output): string {
  if (s.state !== 'CONTAINER_EXITED') return s.message;
  const cached = cache.get(s.id);
  if (cached !== undefined) return cached;
  const path = s.annotations[ANNOTATION_TERMINATION_MESSAGE_PATH] ?? '';
  const fallbackToLogs =
    s.annotations[ANNOTATION_TERMINATION_MESSAGE_POLICY] === 'FallbackToLogsOnError' && s.exitCode !== 0 && s.reason !== 'ContainerCannotRun';
  const file = fromFile(s, path, fallbackToLogs);
  const tMessage = file.checkLogs ? (s.logPath ? lastLogLines(s.logPath) : '') : file.message;
  const message = tMessage === '' ? s.message : s.message === '' ? tMessage : `${s.message}: ${tMessage}`;
  if (cache.size >= CACHE_SIZE) {
    const oldest = cache.keys().next();
    if (!oldest.done) cache.delete(oldest.value);
  }
  cache.set(s.id, message);
  return message;
}
