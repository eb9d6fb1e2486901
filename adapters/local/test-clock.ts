import type { Clock } from "../../core/ports/clock.ts";

/** A clock tests move by hand. */
export interface ManualClock extends Clock {
  advance(ms: number): void;
  set(ms: number): void;
}

/** A ManualClock starting at `start` (epoch ms). */
export function manualClock(start = Date.UTC(2025, 0, 1)): ManualClock {
  let now = start;
  return {
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
    set: (ms) => {
      now = ms;
    },
  };
}
