// Regression (issue 16, finding 6): a call made with an already aborted signal left the
// transport's promise without a handler; the per-task client closed at the end of the cancelled
// pool task rejected it, and the unhandled rejection took the pool thread down with every other
// task on it ("pod kill failed: UNAVAILABLE"). Now such a call never reaches the transport, and
// a call aborted midway leaves nothing unhandled when its transport fails later.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCriClient, type CriTransport } from '../../src/native/cri/index.js';
import { CriCancelledError } from '../../src/native/cri/errors.js';

function hangingTransport(): CriTransport & { invoked: number; failAll(): void } {
  const pending: ((e: Error) => void)[] = [];
  const t = {
    target: 'test:hanging',
    invoked: 0,
    invoke(): Promise<unknown> {
      t.invoked++;
      return new Promise((_resolve, reject) => pending.push(reject));
    },
    failAll(): void {
      for (const reject of pending.splice(0)) reject(Object.assign(new Error('14 UNAVAILABLE: transport closed'), { code: 14 }));
    },
    close(): void {
      t.failAll();
    },
  };
  return t;
}

describe('CRI calls cancelled by the caller', () => {
  it('a call with an aborted signal never reaches the transport, and closing leaves no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const transport = hangingTransport();
      const cri = createCriClient(transport, { runtimeRequestTimeoutMs: 60_000 });
      const ac = new AbortController();
      const midway = cri.ListPodSandbox({}, { signal: ac.signal });
      ac.abort();
      await assert.rejects(midway, CriCancelledError);
      await assert.rejects(cri.ListContainers({}, { signal: ac.signal }), CriCancelledError);
      assert.equal(transport.invoked, 1, 'only the call started before the abort reached the transport');
      cri.close();
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
