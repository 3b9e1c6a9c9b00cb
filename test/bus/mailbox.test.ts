// The mailboxes alone, as properties (fast-check): nothing is lost except drops that are
// reported (and so counted by the bus), order is kept (per key for the coalescing one), the
// latest value of a key wins, capacity holds; plus a few worked examples.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CoalescingMailbox, FifoMailbox, type OverflowPolicy } from '../../src/bus/index.js';

const ops = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.record({ type: fc.constant('push' as const), key: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f') }) },
    { weight: 1, arbitrary: fc.constant({ type: 'shift' as const }) },
  ),
  { maxLength: 300 },
);
const policy = fc.constantFrom<OverflowPolicy>('drop-oldest', 'drop-newest');

interface Item {
  key: string;
  seq: number;
}

describe('FifoMailbox', () => {
  it('examples: drop-oldest keeps the newest, drop-newest keeps what was queued', () => {
    const old = new FifoMailbox<number>(2, 'drop-oldest');
    const neu = new FifoMailbox<number>(2, 'drop-newest');
    for (const n of [1, 2, 3]) {
      old.push(n);
      neu.push(n);
    }
    assert.deepEqual(old.drain(), [2, 3]);
    assert.deepEqual(neu.drain(), [1, 2]);
    assert.deepEqual(old.push(4), { type: 'queued' });
    assert.throws(() => new FifoMailbox(0), RangeError);
  });

  it('property: every item is delivered, reported dropped, or still queued, exactly once, in order; capacity holds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), policy, ops, (capacity, pol, script) => {
        const box = new FifoMailbox<Item>(capacity, pol);
        const model: Item[] = [];
        const pushed: Item[] = [];
        const delivered: Item[] = [];
        const dropped: Item[] = [];
        let seq = 0;
        for (const op of script) {
          if (op.type === 'push') {
            const item = { key: op.key, seq: seq++ };
            pushed.push(item);
            const out = box.push(item);
            if (model.length < capacity) {
              model.push(item);
              assert.deepEqual(out, { type: 'queued' });
            } else {
              const expectDropped = pol === 'drop-oldest' ? (model.shift() as Item) : item;
              if (pol === 'drop-oldest') model.push(item);
              assert.deepEqual(out, { type: 'overflow', dropped: expectDropped, policy: pol });
              dropped.push(expectDropped);
            }
          } else {
            const got = box.shift();
            assert.equal(got, model.shift());
            if (got) delivered.push(got);
          }
          assert.equal(box.size, model.length);
          assert.ok(box.size <= capacity);
        }
        const rest = box.drain();
        assert.deepEqual(rest, model);
        const accounted = [...delivered, ...dropped, ...rest].map((x) => x.seq).sort((a, b) => a - b);
        assert.deepEqual(
          accounted,
          pushed.map((x) => x.seq),
        );
        const survivors = [...delivered, ...rest].map((x) => x.seq);
        assert.deepEqual(
          survivors,
          survivors.slice().sort((a, b) => a - b),
          'delivery order is publication order',
        );
      }),
      { numRuns: 300 },
    );
  });

  it('stays O(1) per operation over long runs (head compaction keeps contents right)', () => {
    const box = new FifoMailbox<number>(10_000);
    let next = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 3000; i++) box.push(round * 3000 + i);
      for (let i = 0; i < 2999; i++) assert.equal(box.shift(), next++);
    }
    assert.equal(box.size, 50);
    assert.deepEqual(
      box.drain(),
      Array.from({ length: 50 }, (_, i) => next + i),
    );
  });
});

describe('CoalescingMailbox', () => {
  it('examples: latest wins per key, the key keeps its place in line', () => {
    const box = new CoalescingMailbox<Item>(10, (x) => x.key);
    box.push({ key: 'a', seq: 1 });
    box.push({ key: 'b', seq: 2 });
    assert.deepEqual(box.push({ key: 'a', seq: 3 }), { type: 'coalesced', replaced: { key: 'a', seq: 1 } });
    assert.deepEqual(box.drain(), [
      { key: 'a', seq: 3 },
      { key: 'b', seq: 2 },
    ]);
  });

  it('examples: overflow applies only to new keys; a queued key always takes its newest value', () => {
    const box = new CoalescingMailbox<Item>(2, (x) => x.key, 'drop-newest');
    box.push({ key: 'a', seq: 1 });
    box.push({ key: 'b', seq: 2 });
    assert.equal(box.push({ key: 'c', seq: 3 }).type, 'overflow');
    assert.equal(box.push({ key: 'b', seq: 4 }).type, 'coalesced');
    assert.deepEqual(
      box.drain().map((x) => x.seq),
      [1, 4],
    );
  });

  it('property: accounting exact, one entry per key, latest wins, first-arrival order, capacity holds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), policy, ops, (capacity, pol, script) => {
        const box = new CoalescingMailbox<Item>(capacity, (x) => x.key, pol);
        // Reference model: keys in line, and the value per key.
        const line: string[] = [];
        const value = new Map<string, Item>();
        const lastPushed = new Map<string, number>();
        const pushed: number[] = [];
        const delivered: Item[] = [];
        const lost: number[] = [];
        let seq = 0;
        for (const op of script) {
          if (op.type === 'push') {
            const item = { key: op.key, seq: seq++ };
            pushed.push(item.seq);
            lastPushed.set(item.key, item.seq);
            const out = box.push(item);
            const queued = value.get(item.key);
            if (queued) {
              assert.deepEqual(out, { type: 'coalesced', replaced: queued });
              value.set(item.key, item);
              lost.push(queued.seq);
            } else if (line.length < capacity) {
              assert.deepEqual(out, { type: 'queued' });
              line.push(item.key);
              value.set(item.key, item);
            } else if (pol === 'drop-newest') {
              assert.deepEqual(out, { type: 'overflow', dropped: item, policy: pol });
              lost.push(item.seq);
            } else {
              const oldKey = line.shift() as string;
              const old = value.get(oldKey) as Item;
              value.delete(oldKey);
              line.push(item.key);
              value.set(item.key, item);
              assert.deepEqual(out, { type: 'overflow', dropped: old, policy: pol });
              lost.push(old.seq);
            }
          } else {
            const got = box.shift();
            const key = line.shift();
            assert.equal(got?.key, key);
            if (got && key !== undefined) {
              assert.equal(got, value.get(key));
              value.delete(key);
              // Latest wins: what is delivered is the newest value published for its key.
              assert.equal(got.seq, lastPushed.get(got.key));
              delivered.push(got);
            }
          }
          assert.equal(box.size, line.length);
          assert.ok(box.size <= capacity);
        }
        const rest = box.drain();
        assert.deepEqual(
          rest.map((x) => x.key),
          line,
        );
        for (const x of rest) assert.equal(x.seq, lastPushed.get(x.key), 'what is still queued is the latest of its key');
        assert.equal(new Set(rest.map((x) => x.key)).size, rest.length, 'one entry per key');
        const accounted = [...delivered.map((x) => x.seq), ...lost, ...rest.map((x) => x.seq)].sort((a, b) => a - b);
        assert.deepEqual(accounted, pushed, 'every push delivered, reported lost, or still queued');
        for (const k of new Set(delivered.map((x) => x.key))) {
          const seqs = delivered.filter((x) => x.key === k).map((x) => x.seq);
          assert.deepEqual(
            seqs,
            seqs.slice().sort((a, b) => a - b),
            `order kept for key ${k}`,
          );
        }
      }),
      { numRuns: 300 },
    );
  });
});
