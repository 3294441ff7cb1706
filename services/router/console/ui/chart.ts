/**
 * The connections chart: total and per gateway over the sampled history,
 * drawn as SVG paths (colours come from classes in app.css: no inline
 * styles under the page's CSP).
 */
import { clear, el, fmtInt, svg } from './dom.js';

export interface HistoryPoint {
  t: number;
  total: number | null;
  gateways: Record<string, number>;
}

const H = 180;
const PAD = { left: 44, right: 8, top: 10, bottom: 20 };
const SERIES_CLASSES = 6;

function path(points: Array<[number, number | null]>, x: (t: number) => number, y: (v: number) => number): string {
  let d = '';
  let pen = false;
  for (const [t, v] of points) {
    if (v === null) { pen = false; continue; }
    d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
  }
  return d;
}

export function drawChart(root: SVGElement, legend: HTMLElement, history: HistoryPoint[], nowMs: number): void {
  for (const c of Array.from(root.children)) if (c.tagName !== 'desc') root.removeChild(c);
  // The viewBox follows the drawn width, so text and lines are never stretched.
  const W = Math.max(200, Math.round(root.getBoundingClientRect().width) || 600);
  root.setAttribute('viewBox', `0 0 ${W} ${H}`);
  clear(legend);
  const t0 = history.length > 0 ? Math.min(history[0]!.t, nowMs - 60_000) : nowMs - 60_000;
  const span = Math.max(1, nowMs - t0);
  const ids = [...new Set(history.flatMap((h) => Object.keys(h.gateways)))].sort();
  const max = Math.max(1, ...history.map((h) => h.total ?? 0));
  const top = max <= 4 ? 4 : Math.ceil(max * 1.15);
  const x = (t: number): number => PAD.left + ((t - t0) / span) * (W - PAD.left - PAD.right);
  const y = (v: number): number => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);

  for (const v of [0, top / 2, top]) {
    root.append(svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: 'grid' }));
    root.append(svg('text', { x: PAD.left - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, fmtInt(Math.round(v))));
  }
  const minutes = Math.round(span / 60_000);
  root.append(svg('text', { x: PAD.left, y: H - 4, class: 'axis' }, minutes >= 1 ? `${minutes} min ago` : 'earlier'));
  root.append(svg('text', { x: W - PAD.right, y: H - 4, class: 'axis', 'text-anchor': 'end' }, 'now'));

  ids.forEach((id, i) => {
    const d = path(history.map((h) => [h.t, h.gateways[id] ?? (h.total === null ? null : 0)]), x, y);
    if (d) root.append(svg('path', { d, class: `series s${i % SERIES_CLASSES}` }));
    legend.append(el('li', { class: `key s${i % SERIES_CLASSES}` }, id));
  });
  const total = path(history.map((h) => [h.t, h.total]), x, y);
  if (total) root.append(svg('path', { d: total, class: 'series total' }));
  legend.prepend(el('li', { class: 'key total' }, 'total'));
}
