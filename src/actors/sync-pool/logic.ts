// The sync pool's logic: which lane a task takes and when it may run. Two lanes, each bounded:
// the sync lane (sync, inspect, gc, crash) and the kill lane (kill, remove); a task that finds its
// lane full waits first come first served, and a lane's release hands the slot to the next one
// waiting. Pure bookkeeping of task IDs: the handle (handle.ts) holds the promises and the pool.
import type { SyncTask } from './protocol.js';

export type Lane = 'sync' | 'kill';

export function laneOf(type: SyncTask['type']): Lane {
  return type === 'kill' || type === 'remove' ? 'kill' : 'sync';
}

export interface LaneCounts {
  active: number;
  queued: number;
  limit: number;
}

export class LaneLogic {
  private readonly active: Record<Lane, number> = { sync: 0, kill: 0 };
  private readonly waiting: Record<Lane, number[]> = { sync: [], kill: [] };
  private closed = false;

  constructor(private readonly limits: Readonly<Record<Lane, number>>) {}

  /** A task asks for its lane: it runs now, waits for a slot, or is refused (the pool is closed). */
  admit(lane: Lane, id: number): 'run' | 'wait' | 'closed' {
    if (this.closed) return 'closed';
    if (this.active[lane] < this.limits[lane]) {
      this.active[lane]++;
      return 'run';
    }
    this.waiting[lane].push(id);
    return 'wait';
  }

  /** A task let go of its lane: the waiting task that runs in its slot now, if any. */
  release(lane: Lane): number | undefined {
    const next = this.waiting[lane].shift();
    if (next === undefined) this.active[lane] = Math.max(0, this.active[lane] - 1);
    return next;
  }

  /** The pool closes: the tasks still waiting, which fail (as piscina fails its queued tasks). */
  close(): number[] {
    this.closed = true;
    return [...this.waiting.sync.splice(0), ...this.waiting.kill.splice(0)];
  }

  counts(lane: Lane): LaneCounts {
    return { active: this.active[lane], queued: this.waiting[lane].length, limit: this.limits[lane] };
  }
}
