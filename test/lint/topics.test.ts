// Every bus topic is alive (issue 18): published somewhere in src/, and read by a subscriber in
// src/ or declared external (EXTERNAL_TOPICS: published for the NATS bridge and other outside
// listeners). A topic declared and never published, or published and never read, fails here.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EXTERNAL_TOPICS, TOPICS } from '../../src/bus/index.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'gen' ? [] : sources(p);
    return name.endsWith('.ts') ? [readFileSync(p, 'utf8')] : [];
  });
}

function named(texts: string[], verb: 'publish' | 'subscribe'): Set<string> {
  const re = new RegExp(`\\.${verb}\\(\\s*'([a-z][a-z.-]*)'`, 'g');
  const out = new Set<string>();
  for (const t of texts) for (const m of t.matchAll(re)) out.add(m[1] ?? '');
  return out;
}

describe('bus topics', () => {
  const texts = sources(resolve('src'));
  const published = named(texts, 'publish');
  const subscribed = named(texts, 'subscribe');

  it('every topic is published in src/', () => {
    assert.deepEqual(
      TOPICS.filter((t) => !published.has(t)),
      [],
    );
  });

  it('every topic is read in src/ or declared external', () => {
    assert.deepEqual(
      TOPICS.filter((t) => !subscribed.has(t) && !EXTERNAL_TOPICS.includes(t)),
      [],
    );
  });

  it('nothing publishes or subscribes to a topic that is not declared', () => {
    const known = new Set<string>(TOPICS);
    assert.deepEqual(
      [...published, ...subscribed].filter((t) => !known.has(t)),
      [],
    );
  });

  it('the scan finds what it should (a publish over two lines included)', () => {
    assert.deepEqual([...named(["bus.publish(\n  'pod.state', m);", "x.subscribe('a.b', f)"], 'publish')], ['pod.state']);
    assert.deepEqual([...named(["x.subscribe('a.b', f)"], 'subscribe')], ['a.b']);
  });
});
