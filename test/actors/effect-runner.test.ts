// The one effect runner: each effect reaches the handler of its kind, in order, with the
// caller's context; a handler that throws is counted and logged, and the effects after it run.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EffectRunner } from '../../src/actors/host/effects.js';

type E = { type: 'add'; n: number } | { type: 'boom' } | { type: 'note'; text: string };

describe('effect runner', () => {
  it('runs every effect in order with its context, and survives a handler that throws', () => {
    const seen: string[] = [];
    const logged: unknown[] = [];
    const logger = { error: (obj: unknown) => logged.push(obj) } as unknown as import('pino').Logger;
    const runner = new EffectRunner<E, string>(
      'test',
      {
        add: (e, ctx) => seen.push(`${ctx}+${e.n}`),
        boom: () => {
          throw new Error('handler broke');
        },
        note: (e, ctx) => seen.push(`${ctx}:${e.text}`),
      },
      logger,
    );
    runner.run([{ type: 'add', n: 1 }, { type: 'boom' }, { type: 'note', text: 'after' }, { type: 'add', n: 2 }], 'pod-a');
    assert.deepEqual(seen, ['pod-a+1', 'pod-a:after', 'pod-a+2']);
    assert.equal(runner.ran.get('add'), 2);
    assert.equal(runner.failed.get('boom'), 1);
    assert.equal(runner.failed.get('add'), undefined);
    assert.deepEqual(logged, [{ actor: 'test', effect: 'boom', err: 'handler broke' }]);
  });

  it('an effect kind with no handler (a plain-data message from elsewhere) is counted as failed, not thrown', () => {
    const runner = new EffectRunner<E>('test', { add: () => undefined, boom: () => undefined, note: () => undefined });
    assert.doesNotThrow(() => runner.run([{ type: 'other' } as unknown as E]));
    assert.equal(runner.failed.get('other'), 1);
  });
});
