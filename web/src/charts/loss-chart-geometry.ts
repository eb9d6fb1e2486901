/**
 * The numbers behind the loss chart, kept apart from the DOM so they are unit
 * tested: scales, "nice" axis ticks, the training-loss path and the
 * held-out points, in the SVG's own coordinate space.
 */

export interface LossPointLike {
  step: number;
  loss: number;
  evalLoss?: number | undefined;
}

export interface ChartBox {
  width: number;
  height: number;
  margin: { top: number; right: number; bottom: number; left: number };
}

export interface Tick {
  value: number;
  /** Position along its axis, in SVG units. */
  at: number;
  label: string;
}

export interface LossChartGeometry {
  /** The plotting area inside the margins. */
  plot: { x: number; y: number; width: number; height: number };
  xTicks: Tick[];
  yTicks: Tick[];
  /** SVG path data of the training loss ("" with no finite point). */
  trainPath: string;
  /** Training-loss points, for a marker when there is only one. */
  trainPoints: { step: number; loss: number; x: number; y: number }[];
  evalPoints: { step: number; loss: number; x: number; y: number }[];
}

/**
 * Up to about `count` round tick values (1, 2 or 5 × 10^k apart) covering
 * [min, max]; the classic "nice numbers" of Heckbert's Graphics Gems.
 */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (max < min) [min, max] = [max, min];
  if (max === min) return [min];
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  const first = Math.ceil(min / step - 1e-9);
  const last = Math.floor(max / step + 1e-9);
  const ticks: number[] = [];
  // Multiplying (not adding) keeps 0.1 + 0.2-style drift out of the labels.
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

/** A tick label: integers as they are, small numbers with the digits the tick spacing needs. */
export function tickLabel(value: number, spacing: number): string {
  if (Number.isInteger(value) && spacing >= 1) return String(value);
  const decimals = Math.min(6, Math.max(0, -Math.floor(Math.log10(spacing || 1))));
  return value.toFixed(decimals);
}

/**
 * Lays out a loss curve: x is the step, from 0 to `totalSteps` when known
 * (so the line grows across the chart while training runs), y spans the
 * training and held-out losses with a little headroom.
 */
export function lossChartGeometry(points: readonly LossPointLike[], box: ChartBox, totalSteps?: number | null): LossChartGeometry {
  const plot = {
    x: box.margin.left,
    y: box.margin.top,
    width: box.width - box.margin.left - box.margin.right,
    height: box.height - box.margin.top - box.margin.bottom,
  };
  const train = points.filter((p) => Number.isFinite(p.step) && Number.isFinite(p.loss));
  const evals = points.filter((p) => Number.isFinite(p.step) && typeof p.evalLoss === "number" && Number.isFinite(p.evalLoss));
  const lastStep = Math.max(1, ...train.map((p) => p.step), ...evals.map((p) => p.step));
  const xMax = Math.max(lastStep, totalSteps ?? 0);

  const values = [...train.map((p) => p.loss), ...evals.map((p) => p.evalLoss as number)];
  let yMin = values.length ? Math.min(...values) : 0;
  let yMax = values.length ? Math.max(...values) : 1;
  const pad = (yMax - yMin) * 0.08 || Math.abs(yMax) * 0.1 || 1;
  yMin = Math.max(0, yMin - pad);
  yMax += pad;

  const yTickValues = niceTicks(yMin, yMax, 5);
  // Extend the domain to whole ticks so the grid lines frame the data.
  const ySpacing = yTickValues.length > 1 ? yTickValues[1]! - yTickValues[0]! : pad;
  yMin = Math.min(yMin, Math.floor(yMin / ySpacing) * ySpacing);
  yMax = Math.max(yMax, Math.ceil(yMax / ySpacing) * ySpacing);
  const yTicksAll = niceTicks(yMin, yMax, 5);

  const sx = (step: number) => plot.x + (step / xMax) * plot.width;
  const sy = (loss: number) => plot.y + plot.height - ((loss - yMin) / (yMax - yMin)) * plot.height;
  const round = (n: number) => Math.round(n * 100) / 100;

  const xTickValues = niceTicks(0, xMax, 6).filter((v) => Number.isInteger(v));
  const xSpacing = xTickValues.length > 1 ? xTickValues[1]! - xTickValues[0]! : 1;
  const trainPoints = train.map((p) => ({ step: p.step, loss: p.loss, x: round(sx(p.step)), y: round(sy(p.loss)) }));
  return {
    plot,
    xTicks: xTickValues.map((v) => ({ value: v, at: round(sx(v)), label: tickLabel(v, xSpacing) })),
    yTicks: yTicksAll.map((v) => ({ value: v, at: round(sy(v)), label: tickLabel(v, ySpacing) })),
    trainPath: trainPoints.map((p, i) => `${i === 0 ? "M" : "L"}${p.x},${p.y}`).join(" "),
    trainPoints,
    evalPoints: evals.map((p) => ({ step: p.step, loss: p.evalLoss as number, x: round(sx(p.step)), y: round(sy(p.evalLoss as number)) })),
  };
}
