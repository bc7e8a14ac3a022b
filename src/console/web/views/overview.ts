import type { Api } from '../api.js';
import { clear, el, heading, withLoading } from '../dom.js';
import type { ConsoleView } from '../view.js';

/** `GET /v1/audit/stats`: counts per UTC hour (`hour`, ISO truncated) and per UTC day (`day`, YYYY-MM-DD). */
export interface AuditStats {
  from: string;
  to: string;
  decisions_per_hour: { hour: string; allow: number; deny: number }[];
  records_per_team_day: { day: string; team: string; records: number }[];
  alarms_per_hour: { hour: string; alarms: number }[];
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const WINDOWS: Record<string, { label: string; ms: number }> = {
  '24h': { label: 'last 24 hours', ms: DAY },
  '7d': { label: 'last 7 days', ms: 7 * DAY },
  '31d': { label: 'last 31 days', ms: 31 * DAY },
};
const TEAM_SERIES = 8;

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element; attributes only (the CSP forbids inline style, classes come from app.css). */
function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}, ...children: (Node | string)[]): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children) node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  return node;
}

/** A bar a person can hover: its `<title>` says what it counts and the number. */
interface Bar {
  readonly start: number;
  readonly end: number;
  /** Stacked from `base` (the bars below it in the same slot) to `base + value`. */
  readonly base: number;
  readonly value: number;
  readonly series: string;
  readonly className: string;
  readonly title: string;
}

interface ChartSpec {
  readonly id: string;
  readonly caption: string;
  readonly from: number;
  readonly to: number;
  readonly bars: readonly Bar[];
  readonly legend: readonly { label: string; className: string }[];
  readonly yLabel: string;
  /** Bars per whole day: the axis names days, not hours. */
  readonly daily?: boolean;
}

const W = 640;
const H = 240;
const PAD = { left: 48, right: 12, top: 12, bottom: 34 };

/** A tick step of 1, 2 or 5 times a power of ten giving about four ticks up to `max`. */
function niceStep(max: number): number {
  const rough = Math.max(max / 4, 1);
  const pow = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= rough) ?? rough;
}

function utcLabel(ms: number, withHour: boolean): string {
  const iso = new Date(ms).toISOString();
  return withHour ? `${iso.slice(5, 10)} ${iso.slice(11, 13)}h` : iso.slice(5, 10);
}

/** Bars on a time axis from `from` to `to`, with y ticks, x labels in UTC, a legend, or "no data". */
function barChart(spec: ChartSpec): HTMLElement {
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const chart = svg('svg', { 'data-chart': spec.id, class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': spec.caption });
  chart.appendChild(svg('title', {}, spec.caption));
  const x = (ms: number) => PAD.left + ((ms - spec.from) / Math.max(spec.to - spec.from, 1)) * plotW;
  const top = Math.max(0, ...spec.bars.map((b) => b.base + b.value));
  const step = niceStep(top);
  const yMax = Math.max(step, Math.ceil(top / step) * step);
  const y = (v: number) => PAD.top + plotH - (v / yMax) * plotH;

  for (let v = 0; v <= yMax; v += step) {
    chart.appendChild(svg('line', { class: 'grid-line', x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }));
    chart.appendChild(svg('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(v)));
  }
  chart.appendChild(svg('line', { class: 'axis', x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: PAD.top + plotH }));
  chart.appendChild(svg('line', { class: 'axis', x1: PAD.left, x2: W - PAD.right, y1: PAD.top + plotH, y2: PAD.top + plotH }));
  chart.appendChild(svg('text', { x: 12, y: PAD.top + plotH / 2, 'text-anchor': 'middle', transform: `rotate(-90 12 ${PAD.top + plotH / 2})` }, spec.yLabel));

  const span = spec.to - spec.from;
  const withHour = !spec.daily && span <= 2 * DAY;
  if (spec.daily) {
    // One label under the middle of each day (every few days for a month), never the same day twice.
    const days = Math.round(span / DAY);
    const every = Math.max(1, Math.ceil(days / 8));
    for (let d = 0; d < days; d += every) {
      const ms = spec.from + d * DAY;
      chart.appendChild(svg('text', { x: x(ms + DAY / 2), y: H - PAD.bottom + 16, 'text-anchor': 'middle' }, utcLabel(ms, false)));
    }
  } else {
    const ticks = 6;
    for (let i = 0; i <= ticks; i++) {
      const ms = spec.from + (span * i) / ticks;
      chart.appendChild(svg('text', { x: x(ms), y: H - PAD.bottom + 16, 'text-anchor': i === 0 ? 'start' : i === ticks ? 'end' : 'middle' }, utcLabel(ms, withHour)));
    }
  }
  chart.appendChild(svg('text', { x: W - PAD.right, y: H - 4, 'text-anchor': 'end' }, 'UTC'));

  if (spec.bars.length === 0) {
    chart.appendChild(svg('text', { class: 'empty-note', x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, 'text-anchor': 'middle', 'data-testid': 'no-data' }, 'no data in this window'));
  }
  for (const b of spec.bars) {
    // A bar is at least one pixel wide and high, so a lone count of 1 in a month still shows.
    const x0 = Math.max(PAD.left, x(b.start));
    const x1 = Math.min(W - PAD.right, x(b.end));
    const width = Math.max(1, x1 - x0 - (x1 - x0 > 4 ? 1 : 0));
    const yTop = y(b.base + b.value);
    const height = Math.max(1, y(b.base) - yTop);
    chart.appendChild(
      svg('rect', { class: `bar ${b.className}`, 'data-series': b.series, 'data-value': b.value, x: x0.toFixed(2), y: (yTop).toFixed(2), width: width.toFixed(2), height: height.toFixed(2) }, svg('title', {}, b.title)),
    );
  }

  const figure = el('figure', { class: 'chart' }, el('figcaption', {}, spec.caption));
  figure.appendChild(chart);
  if (spec.legend.length > 0) {
    const legend = svg('svg', { class: 'legend', 'data-legend': spec.id, viewBox: `0 0 ${W} 22`, role: 'list' });
    let at = PAD.left;
    for (const item of spec.legend) {
      const g = svg('g', { role: 'listitem' }, svg('rect', { class: item.className, x: at, y: 5, width: 12, height: 12 }), svg('text', { x: at + 17, y: 15 }, item.label));
      legend.appendChild(g);
      at += 30 + item.label.length * 7;
    }
    figure.appendChild(legend);
  }
  return figure;
}

function decisionsChart(stats: AuditStats, from: number, to: number): HTMLElement {
  const bars: Bar[] = [];
  for (const h of stats.decisions_per_hour) {
    const start = Date.parse(h.hour);
    const label = `${h.hour.slice(0, 13).replace('T', ' ')}:00 UTC`;
    if (h.allow > 0) bars.push({ start, end: start + HOUR, base: 0, value: h.allow, series: 'allow', className: 'series-allow', title: `${label}: ${h.allow} allowed` });
    if (h.deny > 0) bars.push({ start, end: start + HOUR, base: h.allow, value: h.deny, series: 'deny', className: 'series-deny', title: `${label}: ${h.deny} denied` });
  }
  return barChart({
    id: 'decisions-per-hour',
    caption: 'Decisions per hour',
    from,
    to,
    bars,
    yLabel: 'decisions',
    legend: [
      { label: 'allow', className: 'series-allow' },
      { label: 'deny', className: 'series-deny' },
    ],
  });
}

function recordsChart(stats: AuditStats, from: number, to: number): HTMLElement {
  const teams = [...new Set(stats.records_per_team_day.map((r) => r.team))].sort();
  const series = (team: string) => `series-${teams.indexOf(team) % TEAM_SERIES}`;
  const byDay = new Map<string, { team: string; records: number }[]>();
  for (const r of stats.records_per_team_day) byDay.set(r.day, [...(byDay.get(r.day) ?? []), r]);
  const bars: Bar[] = [];
  for (const [day, entries] of byDay) {
    // Side by side within the day, one slot per team that streamed anything in the window.
    const start = Date.parse(`${day}T00:00:00Z`);
    const slot = DAY / Math.max(teams.length, 1);
    for (const r of entries) {
      const i = teams.indexOf(r.team);
      bars.push({ start: start + i * slot, end: start + (i + 1) * slot, base: 0, value: r.records, series: r.team, className: series(r.team), title: `${day} ${r.team}: ${r.records} records` });
    }
  }
  // Days start at midnight UTC: widen the axis to whole days so the first and last are not cut.
  const dayFrom = Math.floor(from / DAY) * DAY;
  const dayTo = Math.ceil(to / DAY) * DAY;
  return barChart({ id: 'records-per-team-day', caption: 'Records streamed per team per day', from: dayFrom, to: dayTo, bars, yLabel: 'records', daily: true, legend: teams.map((t) => ({ label: t, className: series(t) })) });
}

function alarmsChart(stats: AuditStats, from: number, to: number): HTMLElement {
  const bars: Bar[] = stats.alarms_per_hour
    .filter((a) => a.alarms > 0)
    .map((a) => {
      const start = Date.parse(a.hour);
      return { start, end: start + HOUR, base: 0, value: a.alarms, series: 'alarms', className: 'series-alarm', title: `${a.hour.slice(0, 13).replace('T', ' ')}:00 UTC: ${a.alarms} alarms` };
    });
  return barChart({ id: 'alarms', caption: 'Alarms over time', from, to, bars, yLabel: 'alarms', legend: [{ label: 'alarms (scope breaches, refused activations)', className: 'series-alarm' }] });
}

function totals(stats: AuditStats): HTMLElement {
  const sum = (ns: number[]) => ns.reduce((a, b) => a + b, 0);
  const stat = (id: string, value: number, label: string) => el('div', { class: 'stat', 'data-stat': id }, el('span', { class: 'stat-value' }, value), el('span', { class: 'stat-label' }, label));
  return el(
    'section',
    { class: 'summary', 'data-testid': 'overview-totals' },
    stat('allow', sum(stats.decisions_per_hour.map((h) => h.allow)), 'decisions allowed'),
    stat('deny', sum(stats.decisions_per_hour.map((h) => h.deny)), 'decisions denied'),
    stat('records', sum(stats.records_per_team_day.map((r) => r.records)), 'records streamed'),
    stat('alarms', sum(stats.alarms_per_hour.map((a) => a.alarms)), 'alarms'),
  );
}

/** The auditor's and security admin's first look: decisions, streamed records and alarms over a window. */
export const overviewView: ConsoleView = {
  id: 'overview',
  title: 'Overview',
  roles: ['auditor', 'security-admin'],
  async render(root: HTMLElement, api: Api) {
    const chosen = new URLSearchParams(location.hash.split('?')[1] ?? '').get('window');
    const select = el('select', { id: 'overview-window', name: 'window' }, ...Object.entries(WINDOWS).map(([k, w]) => el('option', { value: k, selected: k === (chosen ?? '7d') }, w.label)));
    const out = el('div', { class: 'overview-out' });
    // A window chosen while another is loading wins: the older answer is dropped.
    let drawing = 0;
    const draw = async (): Promise<void> => {
      const mine = ++drawing;
      const w = WINDOWS[select.value] ?? WINDOWS['7d']!;
      const to = Date.now();
      const from = to - w.ms;
      history.replaceState(null, '', `#/overview?window=${encodeURIComponent(select.value)}`);
      clear(out);
      for (const a of ['data-window', 'data-from', 'data-to']) out.removeAttribute(a);
      const window = { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
      const stats = await withLoading(out, root, () => api.get<AuditStats>('/v1/audit/stats', window));
      if (!stats || mine !== drawing) return;
      // The window asked for, so a reader (or a test) can ask the API the same question.
      out.setAttribute('data-from', window.from);
      out.setAttribute('data-to', window.to);
      out.setAttribute('data-window', select.value);
      const f = Date.parse(stats.from) || from;
      const t = Date.parse(stats.to) || to;
      out.append(
        totals(stats),
        el('p', { class: 'muted' }, `From ${new Date(f).toISOString().slice(0, 16).replace('T', ' ')} to ${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC. Hover a bar for its number.`),
        el('div', { class: 'charts' }, decisionsChart(stats, f, t), recordsChart(stats, f, t), alarmsChart(stats, f, t)),
      );
    };
    select.addEventListener('change', () => void draw());
    root.append(
      heading('Overview', 'Decisions, streamed records and alarms, from the audit log.'),
      el('form', { class: 'toolbar', onsubmit: (ev: Event) => ev.preventDefault() }, el('label', { for: 'overview-window' }, 'Window '), select),
      out,
    );
    await draw();
  },
};
