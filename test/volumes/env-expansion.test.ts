// $(VAR) expansion exactly as upstream (third_party/forked/golang/expansion: the same table of
// cases), and the pool-thread half of the env: finalizeEnv (service variables, pod IPs, order)
// and expandCommandAndArgs (upstream ExpandContainerCommandAndArgs) through containerInputs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Container } from '../../src/api/core-v1.js';
import { expandEnv, finalizeEnv, expandCommandAndArgs, type EnvEntry } from '../../src/volumes/env.js';
import { containerInputs } from '../../src/volumes/prepared.js';

// Upstream's context: VAR_REF holds an unexpanded reference, VAR_EMPTY is defined but empty.
const context: Record<string, string> = { VAR_A: 'A', VAR_B: 'B', VAR_C: 'C', VAR_REF: '$(VAR_A)', VAR_EMPTY: '' };
const lookup = (n: string): string | undefined => (Object.hasOwn(context, n) ? context[n] : undefined);

const cases: [name: string, input: string, expected: string][] = [
  ['whole string', '$(VAR_A)', 'A'],
  ['repeat', '$(VAR_A)-$(VAR_A)', 'A-A'],
  ['beginning', '$(VAR_A)-1', 'A-1'],
  ['middle', '___$(VAR_B)___', '___B___'],
  ['end', '___$(VAR_C)', '___C'],
  ['compound', '$(VAR_A)_$(VAR_B)_$(VAR_C)', 'A_B_C'],
  ['escape & expand', '$$(VAR_B)_$(VAR_A)', '$(VAR_B)_A'],
  ['compound escape', '$$(VAR_A)_$$(VAR_B)', '$(VAR_A)_$(VAR_B)'],
  ['mixed in escapes', 'f000-$$VAR_A', 'f000-$VAR_A'],
  ['backslash escape ignored', 'foo\\$(VAR_C)bar', 'foo\\Cbar'],
  ['backslash escape ignored (two)', 'foo\\\\$(VAR_C)bar', 'foo\\\\Cbar'],
  ['lots of backslashes', 'foo\\\\\\\\$(VAR_A)bar', 'foo\\\\\\\\Abar'],
  ['nested var references', '$(VAR_A$(VAR_B))', '$(VAR_A$(VAR_B))'],
  ['nested var references second type', '$(VAR_A$(VAR_B)', '$(VAR_A$(VAR_B)'],
  ['value is a reference', '$(VAR_REF)', '$(VAR_A)'],
  ['value is a reference x 2', '%%$(VAR_REF)--$(VAR_REF)%%', '%%$(VAR_A)--$(VAR_A)%%'],
  ['empty var', 'foo$(VAR_EMPTY)bar', 'foobar'],
  ['unterminated expression', 'foo$(VAR_Awhoops!', 'foo$(VAR_Awhoops!'],
  ['expression without operator', 'f00__(VAR_A)__', 'f00__(VAR_A)__'],
  ['shell special vars pass through', '$?_boo_$!', '$?_boo_$!'],
  ['bare operators are ignored', '$VAR_A', '$VAR_A'],
  ['undefined vars are passed through', '$(VAR_DNE)', '$(VAR_DNE)'],
  ['multiple (even) operators, var undefined', '$$$$$$(BIG_MONEY)', '$$$(BIG_MONEY)'],
  ['multiple (even) operators, var defined', '$$$$$$(VAR_A)', '$$$(VAR_A)'],
  ['multiple (odd) operators, var undefined', '$$$$$$$(GOOD_ODDS)', '$$$$(GOOD_ODDS)'],
  ['multiple (odd) operators, var defined', '$$$$$$$(VAR_A)', '$$$A'],
  ['missing open expression', '$VAR_A)', '$VAR_A)'],
  ['shell syntax ignored', '${VAR_A}', '${VAR_A}'],
  ['trailing incomplete expression not consumed', '$(VAR_B)_______$(A', 'B_______$(A'],
  ['trailing incomplete expression, no content, is not consumed', '$(VAR_C)_______$(', 'C_______$('],
  ['operator at end of input string is preserved', '$(VAR_A)foobarzab$', 'Afoobarzab$'],
  ['shell escaped incomplete expr', 'foo-\\$(VAR_A', 'foo-\\$(VAR_A'],
  ['lots of $( in middle', '--$($($($($--', '--$($($($($--'],
  ['lots of $( in beginning', '$($($($($--foo$(', '$($($($($--foo$('],
  ['lots of $( at end', 'foo0--$($($($(', 'foo0--$($($($('],
  ['escaped operators in variable names are not escaped', '$(foo$$var)', '$(foo$$var)'],
  ['newline not expanded', '\n', '\n'],
];

describe('$(VAR) expansion (upstream table)', () => {
  for (const [name, input, expected] of cases) {
    it(name, () => assert.equal(expandEnv(input, lookup), expected));
  }

  it('declared env refers to earlier variables only (upstream TestMapReference)', () => {
    const entries: EnvEntry[] = [
      { name: 'FOO', value: 'bar' },
      { name: 'ZOO', expand: '$(FOO)-1' },
      { name: 'BLU', expand: '$(ZOO)-2' },
      { name: 'EARLY', expand: '$(LATE)' },
      { name: 'LATE', value: 'x' },
    ];
    assert.deepEqual(finalizeEnv(entries, {}, []), [
      { name: 'FOO', value: 'bar' },
      { name: 'ZOO', value: 'bar-1' },
      { name: 'BLU', value: 'bar-1-2' },
      { name: 'EARLY', value: '$(LATE)' },
      { name: 'LATE', value: 'x' },
    ]);
  });
});

describe('finalizeEnv: service variables and pod IPs', () => {
  const service = { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443', MODE: 'from-service' };

  it("service variables first, the container's own after them and winning; $(VAR) reads the service variables too", () => {
    const entries: EnvEntry[] = [
      { name: 'API', expand: 'https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)' },
      { name: 'MODE', value: 'mine' },
      { name: 'AFTER', expand: '$(MODE)' },
    ];
    assert.deepEqual(finalizeEnv(entries, service, []), [
      { name: 'KUBERNETES_SERVICE_HOST', value: '10.0.0.1' },
      { name: 'KUBERNETES_SERVICE_PORT', value: '443' },
      { name: 'API', value: 'https://10.0.0.1:443' },
      { name: 'MODE', value: 'mine' },
      { name: 'AFTER', value: 'mine' },
    ]);
    // Before the container defines MODE, a reference reads the service's value.
    assert.deepEqual(
      finalizeEnv(
        [
          { name: 'BEFORE', expand: '$(MODE)' },
          { name: 'MODE', value: 'mine' },
        ],
        service,
        [],
      ).slice(2),
      [
        { name: 'BEFORE', value: 'from-service' },
        { name: 'MODE', value: 'mine' },
      ],
    );
  });

  it('status.podIP is the first IP, status.podIPs all of them comma-joined, usable in later $(VAR)', () => {
    const entries: EnvEntry[] = [
      { name: 'POD_IP', podIP: 'first' },
      { name: 'POD_IPS', podIP: 'all' },
      { name: 'URL', expand: 'http://$(POD_IP):8080' },
    ];
    assert.deepEqual(finalizeEnv(entries, {}, ['10.88.0.7', 'fd00::7']), [
      { name: 'POD_IP', value: '10.88.0.7' },
      { name: 'POD_IPS', value: '10.88.0.7,fd00::7' },
      { name: 'URL', value: 'http://10.88.0.7:8080' },
    ]);
    assert.deepEqual(
      finalizeEnv(entries, {}, []),
      [
        { name: 'POD_IP', value: '' },
        { name: 'POD_IPS', value: '' },
        { name: 'URL', value: 'http://:8080' },
      ],
      'no sandbox IP (host network): empty, as upstream',
    );
  });
});

describe('command and args expansion (upstream ExpandContainerCommandAndArgs)', () => {
  const c: Container = {
    name: 'app',
    command: ['sh', '-c', 'echo $(GREETING) $$(GREETING) $(MISSING) $(GREETING'],
    args: ['$(POD_IP)', '--port=$(PORT)', '$$$(PORT)'],
    env: [
      { name: 'GREETING', value: 'hello' },
      { name: 'PORT', value: '8080' },
      { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    ],
  };

  it('over the final env, escapes and unknown references as upstream', () => {
    const env = [
      { name: 'GREETING', value: 'hello' },
      { name: 'PORT', value: '8080' },
      { name: 'POD_IP', value: '10.88.0.9' },
    ];
    assert.deepEqual(expandCommandAndArgs(c, env), {
      command: ['sh', '-c', 'echo hello $(GREETING) $(MISSING) $(GREETING'],
      args: ['10.88.0.9', '--port=8080', '$8080'],
    });
    assert.deepEqual(expandCommandAndArgs({ name: 'x' }, env), { command: [], args: [] }, "none given: none (the image's own)");
  });

  it('containerInputs finishes a prepared env with the pod IPs and the service env, then expands command and args', () => {
    const inputs = containerInputs(
      c,
      {
        volumes: {},
        env: {
          app: {
            entries: [
              { name: 'GREETING', value: 'hello' },
              { name: 'PORT', expand: '$(SVC_SERVICE_PORT)' },
              { name: 'POD_IP', podIP: 'first' },
            ],
          },
        },
        serviceEnv: { SVC_SERVICE_PORT: '9090' },
      },
      ['10.88.0.9'],
    );
    assert.deepEqual(inputs.env, [
      { name: 'SVC_SERVICE_PORT', value: '9090' },
      { name: 'GREETING', value: 'hello' },
      { name: 'PORT', value: '9090' },
      { name: 'POD_IP', value: '10.88.0.9' },
    ]);
    assert.deepEqual(inputs.args, ['10.88.0.9', '--port=9090', '$9090']);
    // Without a prepared pod: the literal values only (valueFrom needs the main thread), still expanded.
    const literal = containerInputs(c, undefined, ['10.88.0.9']);
    assert.deepEqual(literal.env, [
      { name: 'GREETING', value: 'hello' },
      { name: 'PORT', value: '8080' },
    ]);
    assert.deepEqual(literal.args, ['$(POD_IP)', '--port=8080', '$8080']);
  });
});
