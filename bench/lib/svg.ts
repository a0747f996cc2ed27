/**
 * Hand-written SVG charts (no dependencies): horizontal bars (linear or log scale), vertical columns
 * (histograms), and lines. Each returns a complete standalone SVG document.
 */

const COLORS = ["#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6"];
/** Text attributes: sans-serif at `size` px (one font-size attribute per element: valid XML). */
function font(size = 12): string {
  return `font-family="sans-serif" font-size="${size}"`;
}

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(1);
  return String(Number(value.toPrecision(4)));
}

/** Round-number ticks covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
    ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** The smallest round tick at or above `max`. */
function niceCeiling(max: number): number {
  const ticks = niceTicks(0, max);
  const last = ticks.at(-1) ?? max;
  const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : max;
  return last >= max ? last : last + step;
}

function doc(width: number, height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" ${font(14)} font-weight="bold">${esc(title)}</text>`,
    ...body,
    "</svg>",
    "",
  ].join("\n");
}

function legend(names: readonly string[], x: number, y: number): string[] {
  return names.flatMap((name, i) => [
    `<rect x="${x}" y="${y + i * 16}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/>`,
    `<text x="${x + 14}" y="${y + i * 16 + 9}" ${font()}>${esc(name)}</text>`,
  ]);
}

export interface Series {
  name: string;
  values: readonly number[];
}

export interface BarChartOptions {
  title: string;
  /** One label per category (row). */
  labels: readonly string[];
  /** Grouped bars per category. */
  series: readonly Series[];
  axisLabel: string;
  log?: boolean;
  /** A vertical reference line (e.g. a budget), with its label. */
  reference?: { value: number; label: string };
}

/** Horizontal grouped bars, one row per label. */
export function barChart(o: BarChartOptions): string {
  const labelWidth = 200;
  const plotWidth = 520;
  const barHeight = 14;
  const groupHeight = barHeight * o.series.length + 10;
  const top = 40;
  const height = top + groupHeight * o.labels.length + 60 + 16 * o.series.length;
  const width = labelWidth + plotWidth + 110;
  const all = o.series.flatMap((s) => s.values).filter((v) => Number.isFinite(v) && (!o.log || v > 0));
  if (o.reference) all.push(o.reference.value);
  const maxV = Math.max(...all, 1e-9);
  const minV = o.log ? Math.min(...all) : 0;
  const lo = o.log ? 10 ** Math.floor(Math.log10(minV)) : 0;
  const hi = o.log ? 10 ** Math.ceil(Math.log10(maxV)) : niceCeiling(maxV);
  const x = (v: number): number =>
    labelWidth +
    (o.log
      ? ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotWidth
      : ((v - lo) / (hi - lo || 1)) * plotWidth);
  const body: string[] = [];
  const plotBottom = top + groupHeight * o.labels.length;
  const ticks: number[] = [];
  if (o.log) for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
  else ticks.push(...niceTicks(lo, hi));
  for (const t of ticks) {
    body.push(`<line x1="${x(t)}" y1="${top}" x2="${x(t)}" y2="${plotBottom}" stroke="#ddd"/>`);
    body.push(`<text x="${x(t)}" y="${plotBottom + 14}" text-anchor="middle" ${font()}>${fmt(t)}</text>`);
  }
  body.push(
    `<text x="${labelWidth + plotWidth / 2}" y="${plotBottom + 32}" text-anchor="middle" ${font()}>${esc(o.axisLabel)}${o.log ? " (log scale)" : ""}</text>`,
  );
  o.labels.forEach((label, row) => {
    const y0 = top + row * groupHeight + 5;
    body.push(
      `<text x="${labelWidth - 6}" y="${y0 + (barHeight * o.series.length) / 2 + 4}" text-anchor="end" ${font()}>${esc(label)}</text>`,
    );
    o.series.forEach((s, i) => {
      const v = s.values[row] ?? Number.NaN;
      if (!Number.isFinite(v)) return;
      const y = y0 + i * barHeight;
      body.push(
        `<rect x="${labelWidth}" y="${y}" width="${Math.max(1, x(v) - labelWidth)}" height="${barHeight - 2}" fill="${COLORS[i % COLORS.length]}"/>`,
      );
      body.push(`<text x="${x(v) + 4}" y="${y + barHeight - 4}" ${font(10)}>${fmt(v)}</text>`);
    });
  });
  body.push(`<line x1="${labelWidth}" y1="${top}" x2="${labelWidth}" y2="${plotBottom}" stroke="black"/>`);
  if (o.reference) {
    const rx = x(o.reference.value);
    body.push(
      `<line x1="${rx}" y1="${top - 4}" x2="${rx}" y2="${plotBottom}" stroke="#888" stroke-dasharray="4 3"/>`,
    );
    body.push(`<text x="${rx + 3}" y="${top - 6}" ${font(10)} fill="#555">${esc(o.reference.label)}</text>`);
  }
  body.push(...legend(o.series.length > 1 ? o.series.map((s) => s.name) : [], labelWidth, plotBottom + 44));
  return doc(width, height, o.title, body);
}

export interface ColumnChartOptions {
  title: string;
  /** One label per column (bin). */
  labels: readonly string[];
  series: readonly Series[];
  xLabel: string;
  yLabel: string;
  log?: boolean;
}

/** Vertical grouped columns: histograms. With `log`, the y axis is log10(1 + count). */
export function columnChart(o: ColumnChartOptions): string {
  const left = 70;
  const plotWidth = 640;
  const plotHeight = 260;
  const top = 40;
  const width = left + plotWidth + 30;
  const height = top + plotHeight + 90 + 16 * o.series.length;
  const maxV = Math.max(1, ...o.series.flatMap((s) => s.values));
  const scale = (v: number): number => (o.log ? Math.log10(1 + v) / Math.log10(1 + maxV) : v / maxV);
  const body: string[] = [];
  const bottom = top + plotHeight;
  const ticks = o.log
    ? Array.from({ length: Math.ceil(Math.log10(1 + maxV)) + 1 }, (_, i) => 10 ** i).filter(
        (t) => t <= maxV * 1.0001,
      )
    : niceTicks(0, maxV);
  for (const t of ticks) {
    const y = bottom - scale(t) * plotHeight;
    body.push(`<line x1="${left}" y1="${y}" x2="${left + plotWidth}" y2="${y}" stroke="#ddd"/>`);
    body.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end" ${font()}>${fmt(t)}</text>`);
  }
  const n = o.labels.length;
  const slot = plotWidth / Math.max(1, n);
  const barWidth = (slot * 0.8) / Math.max(1, o.series.length);
  const labelEvery = Math.max(1, Math.ceil(n / 20));
  // Long labels are all turned, so that neighbours do not overlap.
  const turnLabels = o.labels.some((label) => label.length * 6 > slot * labelEvery);
  o.labels.forEach((label, i) => {
    o.series.forEach((s, k) => {
      const v = s.values[i] ?? 0;
      const h = scale(v) * plotHeight;
      const xx = left + i * slot + slot * 0.1 + k * barWidth;
      body.push(
        `<rect x="${xx}" y="${bottom - h}" width="${Math.max(0.5, barWidth)}" height="${h}" fill="${COLORS[k % COLORS.length]}"><title>${esc(`${s.name} ${label}: ${v}`)}</title></rect>`,
      );
    });
    if (i % labelEvery === 0) {
      const lx = left + i * slot + slot / 2;
      const turn = turnLabels
        ? ` text-anchor="end" transform="rotate(-35 ${lx} ${bottom + 12})"`
        : ' text-anchor="middle"';
      body.push(`<text x="${lx}" y="${bottom + 14}"${turn} ${font(10)}>${esc(label)}</text>`);
    }
  });
  body.push(`<line x1="${left}" y1="${bottom}" x2="${left + plotWidth}" y2="${bottom}" stroke="black"/>`);
  body.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="black"/>`);
  body.push(
    `<text x="${left + plotWidth / 2}" y="${bottom + 54}" text-anchor="middle" ${font()}>${esc(o.xLabel)}</text>`,
  );
  body.push(
    `<text x="16" y="${top + plotHeight / 2}" text-anchor="middle" ${font()} transform="rotate(-90 16 ${top + plotHeight / 2})">${esc(o.yLabel)}${o.log ? " (log scale)" : ""}</text>`,
  );
  body.push(...legend(o.series.length > 1 ? o.series.map((s) => s.name) : [], left, bottom + 66));
  return doc(width, height, o.title, body);
}

export interface LineSeries {
  name: string;
  points: readonly (readonly [number, number])[];
}

export interface LineChartOptions {
  title: string;
  series: readonly LineSeries[];
  xLabel: string;
  yLabel: string;
}

/** Lines over a shared linear x and y axis. */
export function lineChart(o: LineChartOptions): string {
  const left = 80;
  const plotWidth = 620;
  const plotHeight = 280;
  const top = 40;
  const width = left + plotWidth + 30;
  const height = top + plotHeight + 70 + 16 * o.series.length;
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = o.series.flatMap((s) => s.points.map((p) => p[1]));
  const xTicks = niceTicks(Math.min(...xs, 0), Math.max(...xs, 1e-9));
  const yTicks = niceTicks(Math.min(...ys, 0), Math.max(...ys, 0) || 1);
  const x0 = xTicks[0]!;
  const x1 = Math.max(xTicks.at(-1)!, Math.max(...xs));
  const y0 = Math.min(yTicks[0]!, Math.min(...ys));
  const y1 = Math.max(yTicks.at(-1)!, Math.max(...ys));
  const bottom = top + plotHeight;
  const px = (v: number): number => left + ((v - x0) / (x1 - x0 || 1)) * plotWidth;
  const py = (v: number): number => bottom - ((v - y0) / (y1 - y0 || 1)) * plotHeight;
  const body: string[] = [];
  for (const t of yTicks) {
    body.push(`<line x1="${left}" y1="${py(t)}" x2="${left + plotWidth}" y2="${py(t)}" stroke="#ddd"/>`);
    body.push(`<text x="${left - 6}" y="${py(t) + 4}" text-anchor="end" ${font()}>${fmt(t)}</text>`);
  }
  for (const t of xTicks) {
    body.push(`<text x="${px(t)}" y="${bottom + 14}" text-anchor="middle" ${font()}>${fmt(t)}</text>`);
  }
  if (y0 < 0 && y1 > 0) {
    body.push(`<line x1="${left}" y1="${py(0)}" x2="${left + plotWidth}" y2="${py(0)}" stroke="#888"/>`);
  }
  o.series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const d = s.points.map((p, k) => `${k === 0 ? "M" : "L"}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`);
    body.push(
      `<path d="${d.join(" ")}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5"/>`,
    );
  });
  body.push(`<line x1="${left}" y1="${bottom}" x2="${left + plotWidth}" y2="${bottom}" stroke="black"/>`);
  body.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="black"/>`);
  body.push(
    `<text x="${left + plotWidth / 2}" y="${bottom + 34}" text-anchor="middle" ${font()}>${esc(o.xLabel)}</text>`,
  );
  body.push(
    `<text x="16" y="${top + plotHeight / 2}" text-anchor="middle" ${font()} transform="rotate(-90 16 ${top + plotHeight / 2})">${esc(o.yLabel)}</text>`,
  );
  body.push(
    ...legend(
      o.series.map((s) => s.name),
      left,
      bottom + 46,
    ),
  );
  return doc(width, height, o.title, body);
}
