// The one effect runner every actor uses: its logic returns effects as tagged plain data, and
// the runner hands each to the handler named by its `type`, in order. The handler map is typed
// so that an effect kind with no handler does not compile. A handler that throws is logged and
// counted, and the effects after it still run: one bad effect never stops an actor.
// Owns: the dispatch and its error counts; the handlers (timers, the bus, the CRI) are the
// actor's own.
import type { Logger } from 'pino';

export interface Effect {
  readonly type: string;
}

/** One handler per effect kind, each given its effect and the caller's context. */
export type EffectHandlers<E extends Effect, C = void> = { readonly [K in E['type']]: (effect: Extract<E, { type: K }>, ctx: C) => void };

export class EffectRunner<E extends Effect, C = void> {
  /** Effects run, and effects whose handler threw, by kind. */
  readonly ran = new Map<string, number>();
  readonly failed = new Map<string, number>();

  constructor(
    private readonly actor: string,
    private readonly handlers: EffectHandlers<E, C>,
    private readonly log?: Logger,
  ) {}

  run(effects: readonly E[], ctx: C): void {
    for (const e of effects) {
      const type = e.type as E['type'];
      this.ran.set(type, (this.ran.get(type) ?? 0) + 1);
      try {
        (this.handlers[type] as (effect: E, ctx: C) => void)(e, ctx);
      } catch (err) {
        this.failed.set(type, (this.failed.get(type) ?? 0) + 1);
        this.log?.error({ actor: this.actor, effect: type, err: err instanceof Error ? err.message : String(err) }, 'effect failed');
      }
    }
  }
}
