// The command scheme: how a simulated container's command decides what it prints, how long it
// runs and how it exits. No process is run. A command line (CRI `command` + `args`, or an
// ExecSync `cmd`) is compiled into a straight list of steps (print, sleep, write a file, exit)
// by a tiny shell interpreter that knows the handful of utilities pod specs really use.
//
//   sleep 30            runs 30 s, exits 0          sleep infinity     runs forever
//   true / false / :    exits 0 / 1 at once         exit 3             exits 3 at once (in sh)
//   echo hello          prints "hello", exits 0     printf 'a\n'       prints "a", exits 0
//   sh -c "echo a; sleep 2; exit 1"                 prints a, runs 2 s, exits 1
//   sh -c 'echo x >&2'  prints to stderr            a && b, a || b     as the shell does
//   while true; do echo tick; sleep 5; done         a line every 5 s, forever
//   sleep 100 & wait    waits for background sleeps
//   touch F, rm -f F, echo x > F, cat F             a per-container file table, so that the
//                                                   classic "cat /tmp/healthy" probe works
//   trap 'exit 0' TERM  the script exits 0 on SIGTERM instead of ignoring it
//   hostname, env, printenv NAME                    from the sandbox hostname and container envs
//   tail -f ..., pause, /pause                      run forever (cat with no file: EOF, exits 0)
//   anything else       runs forever, like a server (in ExecSync: exits 0 with no output)
//   no command at all   runs forever (the image's entrypoint, a server)
//
// Signals. As PID 1 of its container, a program with no SIGTERM handler ignores SIGTERM: so
// `sleep`, `sh` (without trap), `tail` and the other utilities ignore it, and StopContainer
// then takes its whole timeout and kills (exit 137), as containerd does with busybox. Unknown
// programs (servers) and `pause` handle SIGTERM and exit 0 at once. Annotations can change all
// of this (see annotations.ts).

export type Stream = 'stdout' | 'stderr';

export type Step =
  | { kind: 'out'; stream: Stream; text: string }
  | { kind: 'sleep'; ms: number }
  | { kind: 'file'; path: string; content: string | undefined; append: boolean }
  | { kind: 'exit'; code: number };

export interface Program {
  steps: Step[];
  /** When set, steps from this index on repeat forever once the list is done. */
  loopFrom?: number;
  /** Exit code when the steps run out (the last command's status). */
  exitCode: number;
  /** What SIGTERM does: ignored (PID 1 without handler), or an exit with this code. */
  onTerm: 'ignore' | { exitCode: number };
}

export interface CompileContext {
  mode: 'run' | 'exec';
  /** The container's files as the program starts (copied; the program's writes go to steps). */
  files?: ReadonlyMap<string, string>;
  env?: ReadonlyMap<string, string>;
  hostname?: string;
}

// ---- tokens ---------------------------------------------------------------------------------

type Token = { t: 'word'; v: string } | { t: 'op'; v: string };

const OPS = ['&&', '||', ';;', ';', '&', '|', '\n', '(', ')'];

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let word = '';
  let inWord = false;
  const flush = (): void => {
    if (inWord) out.push({ t: 'word', v: word });
    word = '';
    inWord = false;
  };
  while (i < src.length) {
    const c = src[i] ?? '';
    if (c === "'") {
      const end = src.indexOf("'", i + 1);
      const stop = end < 0 ? src.length : end;
      word += src.slice(i + 1, stop);
      inWord = true;
      i = stop + 1;
    } else if (c === '"') {
      i++;
      inWord = true;
      while (i < src.length && src[i] !== '"') {
        if (src[i] === '\\' && i + 1 < src.length && '"\\$`'.includes(src[i + 1] ?? '')) {
          word += src[i + 1];
          i += 2;
        } else {
          word += src[i];
          i++;
        }
      }
      i++;
    } else if (c === '\\' && i + 1 < src.length) {
      if (src[i + 1] !== '\n') {
        word += src[i + 1];
        inWord = true;
      }
      i += 2;
    } else if (c === '#' && !inWord) {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      flush();
      i++;
    } else if (/[0-9]/.test(c) && !inWord && src[i + 1] === '>') {
      // 2>&1, 1>&2, 2>/dev/null: the fd digit belongs to the redirection.
      flush();
      const m = /^[0-9]>>?(&[0-9])?/.exec(src.slice(i)) ?? [''];
      out.push({ t: 'op', v: m[0] });
      i += m[0].length;
    } else if (c === '>' || c === '<') {
      flush();
      const m = /^(>>|>&[0-9]|>|<)/.exec(src.slice(i)) ?? [c];
      out.push({ t: 'op', v: m[0] });
      i += m[0].length;
    } else {
      const op = OPS.find((o) => src.startsWith(o, i));
      if (op) {
        flush();
        out.push({ t: 'op', v: op });
        i += op.length;
      } else {
        word += c;
        inWord = true;
        i++;
      }
    }
  }
  flush();
  return out;
}

// ---- syntax ---------------------------------------------------------------------------------

interface Redirect {
  fd: 1 | 2;
  /** 'stdout' / 'stderr' for >&1 / >&2, a path otherwise (/dev/null included). */
  to: string;
  append: boolean;
}

type Node = { type: 'simple'; words: string[]; redirects: Redirect[] } | { type: 'while'; negate: boolean; cond: Item[]; body: Item[] };

interface Item {
  node: Node;
  /** How this item connects to the next: run next always, only on success, only on failure. */
  next: ';' | '&&' | '||' | '&' | '|';
}

class Parser {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  list(stopWords: readonly string[]): Item[] {
    const items: Item[] = [];
    for (;;) {
      this.skipSeparators();
      const tok = this.tokens[this.pos];
      if (!tok || (tok.t === 'word' && stopWords.includes(tok.v))) return items;
      if (tok.t === 'op' && tok.v === ')') {
        this.pos++;
        continue;
      }
      const node = this.command();
      const op = this.tokens[this.pos];
      let next: Item['next'] = ';';
      if (op?.t === 'op' && ['&&', '||', '&', '|', ';', '\n', ';;'].includes(op.v)) {
        next = op.v === '\n' || op.v === ';;' ? ';' : (op.v as Item['next']);
        this.pos++;
      }
      items.push({ node, next });
    }
  }

  private skipSeparators(): void {
    for (;;) {
      const tok = this.tokens[this.pos];
      if (tok?.t === 'op' && (tok.v === ';' || tok.v === '\n' || tok.v === '(')) this.pos++;
      else return;
    }
  }

  private command(): Node {
    const first = this.tokens[this.pos];
    if (first?.t === 'word' && (first.v === 'while' || first.v === 'until')) {
      this.pos++;
      const cond = this.list(['do']);
      this.pos++; // do
      const body = this.list(['done']);
      this.pos++; // done
      return { type: 'while', negate: first.v === 'until', cond, body };
    }
    const words: string[] = [];
    const redirects: Redirect[] = [];
    for (;;) {
      const tok = this.tokens[this.pos];
      if (!tok) break;
      if (tok.t === 'word') {
        words.push(tok.v);
        this.pos++;
        continue;
      }
      const m = /^([0-9]?)(>>|>&|>|<)([0-9]?)$/.exec(tok.v);
      if (!m) break;
      this.pos++;
      const fd = m[1] === '2' ? 2 : 1;
      if (m[2] === '<') {
        this.pos++; // input redirection: the file is not read
        continue;
      }
      if (m[2] === '>&') {
        redirects.push({ fd, to: m[3] === '2' ? 'stderr' : 'stdout', append: false });
        continue;
      }
      const target = this.tokens[this.pos];
      this.pos++;
      redirects.push({ fd, to: target?.t === 'word' ? target.v : '/dev/null', append: m[2] === '>>' });
    }
    return { type: 'simple', words, redirects };
  }
}

// ---- compilation ----------------------------------------------------------------------------

const SHELLS = new Set(['sh', 'bash', 'ash', 'dash', 'zsh', 'busybox-sh']);
/** Utilities with no SIGTERM handler: as PID 1 they ignore SIGTERM. */
const NO_TERM_HANDLER = new Set([
  ...SHELLS,
  'sleep',
  'tail',
  'cat',
  'true',
  'false',
  'echo',
  'printf',
  'yes',
  'env',
  'printenv',
  'hostname',
  'touch',
  'rm',
  'wait',
]);
const FOREVER_COMMANDS = new Set(['pause', 'yes']);

function base(cmd: string): string {
  const i = cmd.lastIndexOf('/');
  return i >= 0 ? cmd.slice(i + 1) : cmd;
}

/** `sleep` argument: seconds with an optional s/m/h/d suffix, or `infinity`. Milliseconds out. */
export function parseSleep(arg: string): number | undefined {
  if (/^inf(inity)?$/i.test(arg)) return Infinity;
  const m = /^(\d+(?:\.\d*)?|\.\d+)([smhd]?)$/.exec(arg);
  if (!m) return undefined;
  const unit = { '': 1000, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? ''] ?? 1000;
  return Number(m[1]) * unit;
}

function unescapePrintf(s: string): string {
  return s.replace(/\\(n|t|r|\\)/g, (_, c: string) => ({ n: '\n', t: '\t', r: '\r', '\\': '\\' })[c] ?? c);
}

class Compiler {
  readonly steps: Step[] = [];
  status = 0;
  exited = false;
  /** Program time so far (ms), to know how long `wait` waits for background sleeps. */
  elapsed = 0;
  bgEnd = 0;
  loopFrom: number | undefined;
  onTerm: Program['onTerm'] = 'ignore';
  readonly files: Map<string, string>;

  constructor(private readonly ctx: CompileContext) {
    this.files = new Map(ctx.files ?? []);
  }

  private sleep(ms: number): void {
    if (ms <= 0) return;
    this.steps.push({ kind: 'sleep', ms });
    this.elapsed += ms;
    if (ms === Infinity) this.exited = true; // nothing after it ever runs
  }

  private emit(stream: Stream, text: string, redirects: Redirect[]): void {
    if (text === '') return;
    let target: string = stream;
    for (const r of redirects) {
      if ((r.fd === 1 && stream === 'stdout') || (r.fd === 2 && stream === 'stderr')) target = r.to;
    }
    if (target === 'stdout' || target === 'stderr') {
      this.steps.push({ kind: 'out', stream: target, text });
    } else if (target !== '/dev/null') {
      const append = redirects.some((r) => r.to === target && r.append);
      const content = (append ? (this.files.get(target) ?? '') : '') + text;
      this.files.set(target, content);
      this.steps.push({ kind: 'file', path: target, content, append: false });
    }
  }

  list(items: Item[]): void {
    let skip = false;
    for (const item of items) {
      if (this.exited) return;
      if (!skip) this.node(item.node, item.next === '&');
      if (item.next === '&&') skip = this.status !== 0;
      else if (item.next === '||') skip = this.status === 0;
      else skip = false;
    }
  }

  private node(node: Node, background: boolean): void {
    if (node.type === 'while') {
      this.loop(node);
      return;
    }
    if (background) {
      // Only sleeps matter in the background: they make `wait` wait.
      const cmd = base(node.words[0] ?? '');
      if (cmd === 'sleep') {
        const ms = parseSleep(node.words[1] ?? '') ?? 0;
        this.bgEnd = Math.max(this.bgEnd, this.elapsed + ms);
      } else if (cmd !== '' && !this.known(cmd)) {
        this.bgEnd = Infinity;
      } else {
        const before = this.elapsed;
        this.simple(node.words, node.redirects);
        this.bgEnd = Math.max(this.bgEnd, this.elapsed);
        this.elapsed = before;
      }
      this.status = 0;
      return;
    }
    this.simple(node.words, node.redirects);
  }

  private known(cmd: string): boolean {
    return BUILTINS.has(cmd) || SHELLS.has(cmd);
  }

  private loop(node: Extract<Node, { type: 'while' }>): void {
    const condTrue = (): boolean => {
      this.list(node.cond);
      return node.negate ? this.status !== 0 : this.status === 0;
    };
    if (!condTrue()) {
      this.status = 0;
      return;
    }
    const from = this.steps.length;
    const t0 = this.elapsed;
    this.list(node.body);
    if (this.exited) return;
    // Conditions of the loops pods run (`true`, `:`, a file test) do not change: the body
    // repeats forever. A body that takes no time would spin; it becomes "runs forever".
    if (this.elapsed > t0) {
      this.loopFrom = from;
    } else {
      this.sleep(Infinity);
    }
    this.exited = true;
  }

  private simple(words: string[], redirects: Redirect[]): void {
    const [cmd0, ...args] = words;
    if (cmd0 === undefined) {
      this.status = 0;
      return;
    }
    const cmd = base(cmd0);
    switch (cmd) {
      case 'true':
      case ':':
        this.status = 0;
        return;
      case 'false':
        this.status = 1;
        return;
      case 'exit': {
        const n = args[0] === undefined ? this.status : Number.parseInt(args[0], 10);
        this.steps.push({ kind: 'exit', code: (Number.isFinite(n) ? n : 2) & 255 });
        this.exited = true;
        return;
      }
      case 'echo': {
        let rest = args;
        let newline = true;
        while (rest[0] === '-n' || rest[0] === '-e' || rest[0] === '-ne' || rest[0] === '-en') {
          if (rest[0].includes('n')) newline = false;
          rest = rest.slice(1);
        }
        this.emit('stdout', rest.join(' ') + (newline ? '\n' : ''), redirects);
        this.status = 0;
        return;
      }
      case 'printf': {
        const [fmt = '', ...vals] = args;
        let k = 0;
        const text = unescapePrintf(fmt).replace(/%[sd]/g, () => vals[k++] ?? '');
        this.emit('stdout', text, redirects);
        this.status = 0;
        return;
      }
      case 'sleep': {
        const ms = parseSleep(args[0] ?? '');
        if (ms === undefined) {
          this.emit('stderr', `sleep: invalid number '${args[0] ?? ''}'\n`, redirects);
          this.status = 1;
          return;
        }
        this.sleep(ms);
        this.status = 0;
        return;
      }
      case 'wait':
        this.sleep(Math.max(0, this.bgEnd - this.elapsed));
        this.status = 0;
        return;
      case 'trap': {
        const [action = '', ...signals] = args;
        if (signals.some((s) => /^(SIG)?TERM$|^15$/i.test(s))) {
          const m = /^\s*exit\s*(\d*)\s*$/.exec(action);
          this.onTerm = m ? { exitCode: Number(m[1] || 0) & 255 } : 'ignore';
        }
        this.status = 0;
        return;
      }
      case 'touch':
        for (const f of args.filter((a) => !a.startsWith('-'))) {
          if (!this.files.has(f)) {
            this.files.set(f, '');
            this.steps.push({ kind: 'file', path: f, content: '', append: false });
          }
        }
        this.status = 0;
        return;
      case 'rm': {
        const force = args.some((a) => /^-[a-zA-Z]*f/.test(a));
        this.status = 0;
        for (const f of args.filter((a) => !a.startsWith('-'))) {
          if (this.files.delete(f)) {
            this.steps.push({ kind: 'file', path: f, content: undefined, append: false });
          } else if (!force) {
            this.emit('stderr', `rm: can't remove '${f}': No such file or directory\n`, redirects);
            this.status = 1;
          }
        }
        return;
      }
      case 'mkdir':
        this.status = 0;
        return;
      case 'cat': {
        const files = args.filter((a) => !a.startsWith('-'));
        if (files.length === 0) {
          // Reads stdin, which a container without stdin has at EOF: exits at once.
          this.status = 0;
          return;
        }
        this.status = 0;
        for (const f of files) {
          const content = this.files.get(f);
          if (content === undefined) {
            this.emit('stderr', `cat: can't open '${f}': No such file or directory\n`, redirects);
            this.status = 1;
          } else {
            this.emit('stdout', content, redirects);
          }
        }
        return;
      }
      case 'test':
      case '[': {
        const a = args.filter((x) => x !== ']');
        if ((a[0] === '-f' || a[0] === '-e') && a[1] !== undefined) this.status = this.files.has(a[1]) ? 0 : 1;
        else this.status = 0;
        return;
      }
      case 'hostname':
        this.emit('stdout', `${this.ctx.hostname ?? 'sim'}\n`, redirects);
        this.status = 0;
        return;
      case 'env':
      case 'printenv': {
        const env = this.ctx.env ?? new Map<string, string>();
        if (cmd === 'printenv' && args[0] !== undefined) {
          const v = env.get(args[0]);
          if (v !== undefined) this.emit('stdout', `${v}\n`, redirects);
          this.status = v === undefined ? 1 : 0;
        } else {
          this.emit('stdout', [...env].map(([k, v]) => `${k}=${v}\n`).join(''), redirects);
          this.status = 0;
        }
        return;
      }
      case 'tail':
        if (args.includes('-f') || args.includes('-F')) this.sleep(Infinity);
        this.status = 0;
        return;
      default:
        break;
    }
    if (SHELLS.has(cmd)) {
      const c = args.indexOf('-c');
      const script = c >= 0 ? args[c + 1] : undefined;
      if (script === undefined) {
        // An interactive shell without stdin reads EOF and exits.
        this.status = 0;
        return;
      }
      this.list(new Parser(tokenize(script)).list([]));
      return;
    }
    if (this.ctx.mode === 'exec' && !FOREVER_COMMANDS.has(cmd)) {
      // Unknown commands in ExecSync (pg_isready, a health script) succeed quietly.
      this.status = 0;
      return;
    }
    this.sleep(Infinity);
  }
}

const BUILTINS = new Set([
  'true',
  ':',
  'false',
  'exit',
  'echo',
  'printf',
  'sleep',
  'wait',
  'trap',
  'touch',
  'rm',
  'mkdir',
  'cat',
  'test',
  '[',
  'hostname',
  'env',
  'printenv',
  'tail',
]);

/** Compiles a command line (command + args, or an ExecSync cmd) into a Program. */
export function compileCommand(argv: readonly string[], ctx: CompileContext): Program {
  const c = new Compiler(ctx);
  if (argv.length === 0) {
    // The image's own entrypoint: a server as far as the simulation is concerned.
    c.steps.push({ kind: 'sleep', ms: Infinity });
    return { steps: c.steps, exitCode: 0, onTerm: { exitCode: 0 } };
  }
  c.list([{ node: { type: 'simple', words: [...argv], redirects: [] }, next: ';' }]);
  const pid1 = base(argv[0] ?? '');
  let onTerm: Program['onTerm'] = NO_TERM_HANDLER.has(pid1) ? 'ignore' : { exitCode: 0 };
  if (SHELLS.has(pid1)) onTerm = c.onTerm;
  const program: Program = { steps: c.steps, exitCode: c.status, onTerm };
  if (c.loopFrom !== undefined) program.loopFrom = c.loopFrom;
  return program;
}
