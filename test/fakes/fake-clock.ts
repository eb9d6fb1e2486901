import type { Clock } from "../../core/ports/clock.ts";

/**
 * The one clock tests move by hand (epoch ms; 2025-01-01 by default). Its
 * methods are bound, so `clock.now` can be handed on alone.
 */
export class FakeClock implements Clock {
  time: number;

  constructor(start = Date.UTC(2025, 0, 1)) {
    this.time = start;
  }

  readonly now = (): number => this.time;

  readonly advance = (ms: number): void => {
    this.time += ms;
  };

  readonly set = (ms: number): void => {
    this.time = ms;
  };
}
