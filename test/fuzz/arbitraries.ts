// fast-check arbitraries for the fuzz suite (issue 16): pod manifests that are almost right (a
// valid pod with hostile values in the fields that reach host paths, quantities, metadata), text
// mutations of them (truncated, spliced, deeply nested), HTTP requests to every kubelet
// endpoint, and bus envelopes. Scale: KTS_FUZZ_SCALE=full (scripts/test.sh, thousands of cases)
// or quick (--quick, a few hundred); KTS_FUZZ_SEED replays a run (every failure prints its seed).
import fc from 'fast-check';
import { stringify } from 'yaml';

export const FUZZ_FULL = process.env['KTS_FUZZ_SCALE'] === 'full';
export const FUZZ_SEED = process.env['KTS_FUZZ_SEED'] ? Number(process.env['KTS_FUZZ_SEED']) : Math.floor(Math.random() * 2 ** 31);

/** Cases: `full` in the full run, `quick` otherwise. */
export function runs(quick: number, full: number): number {
  return FUZZ_FULL ? full : quick;
}

/** Values that have broken path, parser and URL code somewhere. */
export const HOSTILE_STRINGS = [
  '..',
  '.',
  '',
  ' ',
  '/',
  '//',
  '../../../../tmp/kts-fuzz-victim',
  '/../../../tmp/kts-fuzz-victim',
  'a/../../b',
  '/etc/passwd',
  'a\u0000b',
  '\u0000',
  '%2e%2e',
  '%2e%2e%2f',
  '..%2f',
  'ü',
  '\u202e',
  '\ud800',
  'x'.repeat(300),
  'A_B',
  '-a',
  'a-',
  'a.b',
  '$(HOME)',
  '${PATH}',
  '*',
  '?',
  '#',
  '\n',
  '\r\n',
  'CON',
  'nul',
  '~',
  '~root',
  '\\..\\..',
  'kubernetes.io/x',
  '-1',
  '1e308',
  'NaN',
  '0x10',
];

export const hostileString = (): fc.Arbitrary<string> =>
  fc.oneof(fc.constantFrom(...HOSTILE_STRINGS), fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 12 }));
/** Mostly `usual`, now and then `hostile`: a pod with ~10 such fields is valid about half the time, so valid pods run too. */
const rare = <T, U>(usual: fc.Arbitrary<T>, hostile: fc.Arbitrary<U>): fc.Arbitrary<T | U> =>
  fc.oneof({ weight: 15, arbitrary: usual }, { weight: 1, arbitrary: hostile });
const dnsName = (): fc.Arbitrary<string> => fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);
const name = (): fc.Arbitrary<string> => rare(dnsName(), hostileString());
const quantity = (): fc.Arbitrary<unknown> =>
  rare(
    fc.constantFrom('100m', '1', '64Mi', '0', '2'),
    fc.oneof(fc.constantFrom('-1', '-5Mi', '1e400', '1.2.3', '', 'Infinity', '9999999999999999999Ei'), fc.integer(), fc.double(), fc.anything({ maxDepth: 1 })),
  );
const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined, freq: 3 });

function container(): fc.Arbitrary<Record<string, unknown>> {
  return fc.record(
    {
      name: name(),
      image: rare(fc.constant('busybox:1.35'), hostileString()),
      command: maybe(rare(fc.constant(['sleep', 'infinity']), fc.oneof(fc.array(hostileString(), { maxLength: 3 }), fc.anything({ maxDepth: 1 })))),
      resources: maybe(
        fc.record({
          requests: maybe(
            fc.dictionary(rare(fc.constantFrom('cpu', 'memory', 'ephemeral-storage'), fc.constantFrom('bogus', 'hugepages-2Mi', 'example.com/x')), quantity(), {
              maxKeys: 3,
            }),
          ),
          limits: maybe(fc.dictionary(rare(fc.constantFrom('cpu', 'memory'), fc.constant('bogus')), quantity(), { maxKeys: 2 })),
        }),
      ),
      volumeMounts: maybe(
        fc.array(
          fc.record(
            {
              name: rare(fc.constant('v'), fc.constantFrom('w', 'missing')),
              mountPath: rare(fc.constantFrom('/data', '/data2'), hostileString()),
              subPath: maybe(rare(fc.constantFrom('sub', 'a/b'), hostileString())),
              subPathExpr: maybe(hostileString()),
            },
            { requiredKeys: ['name', 'mountPath'] },
          ),
          { maxLength: 1 },
        ),
      ),
      env: maybe(
        fc.array(fc.record({ name: rare(fc.stringMatching(/^[A-Z][A-Z0-9_]{0,8}$/), hostileString()), value: maybe(hostileString()) }), { maxLength: 3 }),
      ),
      ports: maybe(
        fc.array(fc.record({ containerPort: rare(fc.integer({ min: 1, max: 65535 }), fc.oneof(fc.integer({ min: -1, max: 70000 }), hostileString())) }), {
          maxLength: 2,
        }),
      ),
      terminationMessagePath: maybe(rare(fc.constant('/dev/termination-log'), hostileString())),
      livenessProbe: maybe(
        rare(fc.record({ exec: fc.record({ command: fc.constant(['true']) }), periodSeconds: fc.integer({ min: 1, max: 5 }) }), fc.anything({ maxDepth: 2 })),
      ),
    },
    { requiredKeys: ['name', 'image'] },
  );
}

function volume(): fc.Arbitrary<Record<string, unknown>> {
  return fc.oneof(
    fc.record({
      name: rare(fc.constant('v'), fc.constantFrom(...HOSTILE_STRINGS.slice(0, 6))),
      emptyDir: fc.oneof(fc.constant({}), fc.record({ sizeLimit: quantity() })),
    }),
    fc.record({
      name: fc.constant('v'),
      downwardAPI: fc.record({
        items: fc.array(fc.record({ path: rare(fc.constantFrom('name', 'a/b'), hostileString()), fieldRef: fc.constant({ fieldPath: 'metadata.name' }) }), {
          maxLength: 2,
        }),
      }),
    }),
    fc.record({
      name: fc.constant('v'),
      configMap: fc.record({
        name: name(),
        optional: fc.constant(true),
        items: maybe(fc.array(fc.record({ key: rare(fc.constant('k'), hostileString()), path: rare(fc.constant('k'), hostileString()) }), { maxLength: 2 })),
      }),
    }),
  );
}

/** A pod object, mostly right, with hostile values where they hurt. */
export function podObject(): fc.Arbitrary<Record<string, unknown>> {
  return fc.record({
    apiVersion: rare(fc.constant('v1'), hostileString()),
    kind: rare(fc.constant('Pod'), fc.constantFrom('List', 'Deployment', '')),
    metadata: fc.record(
      {
        name: name(),
        namespace: maybe(name()),
        uid: maybe(rare(fc.uuid(), hostileString())),
        labels: maybe(fc.dictionary(rare(dnsName(), hostileString()), rare(dnsName(), hostileString()), { maxKeys: 3 })),
        annotations: maybe(
          rare(fc.dictionary(rare(dnsName(), hostileString()), fc.string({ maxLength: 30 }), { maxKeys: 3 }), fc.constant({ big: 'x'.repeat(300 * 1024) })),
        ),
      },
      { requiredKeys: ['name'] },
    ),
    spec: fc.record(
      {
        containers: rare(fc.array(container(), { minLength: 1, maxLength: 3 }), fc.anything({ maxDepth: 2 })),
        initContainers: maybe(
          fc.array(
            container().map(({ livenessProbe: _probe, ...c }) => c),
            { maxLength: 1 },
          ),
        ),
        volumes: rare(fc.array(volume(), { minLength: 1, maxLength: 1 }), fc.array(volume(), { maxLength: 2 })),
        restartPolicy: maybe(rare(fc.constantFrom('Always', 'Never', 'OnFailure'), fc.constant('Sometimes'))),
        terminationGracePeriodSeconds: maybe(rare(fc.integer({ min: 0, max: 3 }), fc.oneof(fc.integer({ min: -5, max: -1 }), fc.double()))),
        activeDeadlineSeconds: maybe(rare(fc.integer({ min: 5, max: 100 }), fc.integer({ min: -1, max: 0 }))),
        hostname: maybe(rare(dnsName(), hostileString())),
      },
      { requiredKeys: ['containers', 'volumes'] },
    ),
  });
}

/** Text a pod source may be given: JSON or YAML of a pod, many documents, a List, or those mutated. */
export function manifestText(): fc.Arbitrary<string> {
  const pods = fc.array(podObject(), { minLength: 1, maxLength: 3 });
  const wellFormed = fc.oneof(
    podObject().map((p) => JSON.stringify(p)),
    podObject().map((p) => stringify(p)),
    pods.map((ps) => ps.map((p) => stringify(p)).join('---\n')),
    pods.map((ps) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items: ps })),
  );
  const mutated = fc
    .tuple(
      wellFormed,
      fc.nat(),
      fc.nat(),
      fc.oneof(
        fc.string({ maxLength: 8 }),
        fc.constantFrom('[', '{', '&a ', '*a', ': ', '\n- ', '"', "'", '|', '\t', '\u0000', '---\n', '%YAML 1.1\n', '!!binary ', '<<: *a\n'),
      ),
    )
    .map(([text, at, len, insert]) => {
      const i = at % (text.length + 1);
      return text.slice(0, i) + insert + text.slice(i + (len % 5));
    });
  const nested = fc.tuple(fc.integer({ min: 50, max: 3000 }), fc.constantFrom('[', '{"a":', '- ', 'a:\n ')).map(([d, open]) => open.repeat(d));
  return fc.oneof(
    { weight: 4, arbitrary: wellFormed },
    { weight: 4, arbitrary: mutated },
    { weight: 1, arbitrary: nested },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  );
}

/** Kubelet API paths, the known ones with hostile segments and queries. */
export const KNOWN_PATHS = [
  '/pods',
  '/pods/',
  '/runningpods/',
  '/metrics',
  '/metrics/probes',
  '/metrics/cadvisor',
  '/configz',
  '/healthz',
  '/healthz/ping',
  '/healthz/pleg',
  '/containerLogs',
  '/static-pods',
  '/exec',
  '/attach',
  '/portForward',
  '/run',
  '/stats/summary',
  '/logs',
  '/spec',
  '/',
  '/debug/pprof',
];

/** encodeURIComponent, except that a lone surrogate (which it refuses) goes as the raw bytes a client could send anyway. */
function encodeLoosely(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return '%ED%A0%80';
  }
}

const segment = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.stringMatching(/^[a-z0-9-]{1,10}$/),
    fc.constantFrom('default', 'sentinel-hostile', 'c', '%', '%zz', '%E0%A4%A', '%00', '%2F', '..', '.', '%2e%2e', '[', ']', '@', ':', ';', '%ff%fe', '~'),
    hostileString().map(encodeLoosely),
  );

export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | undefined;
}

export function request(): fc.Arbitrary<FuzzRequest> {
  const path = fc
    .tuple(
      fc.constantFrom(...KNOWN_PATHS),
      fc.array(segment(), { maxLength: 4 }),
      fc.array(
        fc.tuple(
          fc.constantFrom(
            'tailLines',
            'limitBytes',
            'sinceSeconds',
            'sinceTime',
            'previous',
            'timestamps',
            'command',
            'container',
            'input',
            'output',
            'tty',
            'port',
            'x',
          ),
          fc.oneof(fc.constantFrom('-1', '0', '1', '1e999', 'true', 'abc', '%zz', '2026-13-45T99:00:00Z', '99999999999999999999'), segment()),
        ),
        { maxLength: 3 },
      ),
    )
    .map(([base, segs, query]) => {
      const p = [base, ...segs].join('/').replace(/\/\/+/g, '/');
      const q = query.map(([k, v]) => `${k}=${v}`).join('&');
      return q ? `${p}?${q}` : p;
    });
  return fc.record(
    {
      // follow=true is left out on purpose: it streams for as long as the container lives.
      method: fc.constantFrom('GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
      path,
      headers: fc.dictionary(
        fc.constantFrom('x-a', 'accept', 'content-type', 'authorization', 'x-stream-protocol-version', 'range', 'if-none-match'),
        fc.stringMatching(/^[ -~]{0,40}$/),
        { maxKeys: 3 },
      ),
      body: maybe(fc.oneof(manifestText(), fc.string({ maxLength: 100 }))),
    },
    { requiredKeys: ['method', 'path', 'headers'] },
  );
}
