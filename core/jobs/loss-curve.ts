import type { z } from "zod";
import type { LossPoint } from "./model.ts";

type Point = z.infer<typeof LossPoint>;

/** Most points a job keeps of its loss curve. */
export const MAX_LOSS_POINTS = 500;

/**
 * Adds a point to a loss curve. A point at a step already recorded replaces
 * the points from there on (a resumed attempt redoes the steps after its
 * checkpoint); a longer curve than `max` is halved, keeping the first and last
 * points and those with a held-out loss where it can.
 */
export function appendLossPoint(curve: readonly Point[], point: Point, max = MAX_LOSS_POINTS): Point[] {
  const out = curve.filter((p) => p.step < point.step);
  out.push(point);
  if (out.length <= max) return out;
  const keep = (p: Point, i: number) => i === 0 || i === out.length - 1 || i % 2 === 0 || p.evalLoss !== undefined;
  let halved = out.filter(keep);
  if (halved.length > max) halved = out.filter((_, i) => i === out.length - 1 || i % 2 === 0);
  return halved;
}
