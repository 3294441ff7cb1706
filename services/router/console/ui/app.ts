/**
 * The operator console page. Talks to /console/api/* on its own origin with
 * `Authorization: Bearer <console token>`; the token lives in this tab's
 * sessionStorage only (no cookie, never in a URL). Polls the overview every
 * couple of seconds (fetch can send the bearer header; EventSource cannot).
 */
import { drawChart, type HistoryPoint } from './chart.js';
import { byId, clear, el, fmtAgo, fmtInt, fmtTime } from './dom.js';

const TOKEN_KEY = 'longlink.console.token';
const POLL_MS = 2000;
/** How long a test push's receipt row keeps looking for the client's ack. */
const ACK_WATCH_MS = 120_000;

interface Gateway { gateway: string; connections: number; entries: number; leaseAgeMs: number; draining: boolean; version: string | null }
interface Overview {
  now: number; mode: string; dev: boolean; version: string; directory: 'ok' | 'unavailable';
  connections: { total: number; gateways: number; draining: number };
  gateways: Gateway[];
  history: HistoryPoint[];
  rates: { pushesPerSec: number; acksPerSec: number; deliveredPerSec: number };
  counters: { pushRequests: number; pushes: Record<string, number>; acks: number; controls: number; storeErrors: number; busErrors: number; http: Record<string, number> };
  panels: Array<{ id: string; title: string; rows: Array<{ label: string; value: number | string }> }>;
}
interface Connection { conn: string; device: string; gateway: string; since: number }
interface UserView { user: string; online: boolean; connections: Connection[]; inbox: { latestSeq: number; depth: number; cursors: Record<string, number> } }
interface PushAnswer { id: string; seq: number; status: string; connections: number }

class Unauthorized extends Error {}

let token = sessionStorage.getItem(TOKEN_KEY) ?? '';
let pollTimer: ReturnType<typeof setTimeout> | undefined;
let shownUser: string | undefined;
/** The last overview, to redraw the chart when the window changes size. */
let lastOverview: Overview | undefined;
/** Receipt rows still waiting for an ack, checked on every refresh of the shown user. */
const watching: Array<{ user: string; seq: number; until: number; row: HTMLElement }> = [];

async function api<T>(path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    cache: 'no-store', credentials: 'omit', redirect: 'error',
  });
  if (res.status === 401) throw new Unauthorized('the console token was rejected');
  const json = (await res.json().catch(() => ({}))) as T & { error?: { message?: string } };
  if (!res.ok) throw new Error(json.error?.message ?? `HTTP ${res.status}`);
  return json;
}

// ---- sign in / out ---------------------------------------------------------------

function showSignedIn(on: boolean): void {
  byId('login').hidden = on;
  byId('app').hidden = !on;
  byId('nav').hidden = !on;
  byId('signout').hidden = !on;
}

function signOut(message = ''): void {
  token = '';
  sessionStorage.removeItem(TOKEN_KEY);
  if (pollTimer !== undefined) clearTimeout(pollTimer);
  pollTimer = undefined;
  shownUser = undefined;
  showSignedIn(false);
  byId('login-error').textContent = message;
  byId<HTMLInputElement>('token').focus();
}

async function signIn(candidate: string): Promise<void> {
  token = candidate;
  try {
    const o = await api<Overview>('/console/api/overview');
    sessionStorage.setItem(TOKEN_KEY, token);
    byId('login-error').textContent = '';
    byId<HTMLInputElement>('token').value = '';
    showSignedIn(true);
    renderOverview(o);
    schedulePoll();
    byId<HTMLInputElement>('lookup').focus();
  } catch (err) {
    signOut(err instanceof Unauthorized ? 'That token was not accepted.' : `Could not reach the console API: ${(err as Error).message}`);
  }
}

// ---- overview ---------------------------------------------------------------------

function tile(label: string, value: string, id: string, warn = false): HTMLElement {
  return el('div', { class: warn ? 'tile warn' : 'tile', id: `tile-${id}` }, el('div', { class: 'tile-value' }, value), el('div', { class: 'tile-label' }, label));
}

function renderOverview(o: Overview): void {
  lastOverview = o;
  const mode = byId('mode');
  mode.hidden = false;
  mode.textContent = o.dev ? `${o.mode} · DEV` : o.mode;
  mode.className = o.dev ? 'badge dev' : 'badge';
  byId('devbar').hidden = !o.dev;
  byId('version').textContent = `v${o.version}`;
  byId('updated').textContent = `updated ${fmtTime(o.now)}`;
  byId('overview-error').textContent = o.directory === 'ok' ? '' : 'The presence directory is unreachable (store down?): gateway numbers are missing.';

  const c = o.counters;
  const http = c.http;
  const tiles = byId('tiles');
  clear(tiles);
  tiles.append(
    tile('live connections', fmtInt(o.connections.total), 'connections'),
    tile(`gateways${o.connections.draining > 0 ? ` (+${o.connections.draining} draining)` : ''}`, fmtInt(o.connections.gateways), 'gateways'),
    tile('pushes / s (this router)', String(o.rates.pushesPerSec), 'push-rate'),
    tile('acks / s', String(o.rates.acksPerSec), 'ack-rate'),
    tile('pushes accepted', fmtInt(c.pushRequests), 'pushes'),
    tile('push API 4xx', fmtInt(http['4xx'] ?? 0), 'http4xx', (http['4xx'] ?? 0) > 0),
    tile('push API 5xx', fmtInt(http['5xx'] ?? 0), 'http5xx', (http['5xx'] ?? 0) > 0),
    tile('of which 503', fmtInt(http['503'] ?? 0), 'http503', (http['503'] ?? 0) > 0),
    tile('store errors', fmtInt(c.storeErrors), 'store-errors', c.storeErrors > 0),
    tile('bus errors', fmtInt(c.busErrors), 'bus-errors', c.busErrors > 0),
  );

  drawChart(byId('chart') as unknown as SVGElement, byId('legend'), o.history, o.now);

  const body = byId('gateways').querySelector('tbody')!;
  clear(body);
  if (o.gateways.length === 0) body.append(el('tr', {}, el('td', { colspan: '6', class: 'muted' }, 'No live gateway.')));
  for (const g of o.gateways) {
    body.append(el('tr', { 'data-gateway': g.gateway },
      el('th', { scope: 'row' }, g.gateway),
      el('td', { class: 'num' }, fmtInt(g.connections)),
      el('td', { class: 'num' }, fmtInt(g.entries)),
      el('td', { class: 'num' }, g.leaseAgeMs < 60_000 ? `${(g.leaseAgeMs / 1000).toFixed(1)} s` : fmtAgo(g.leaseAgeMs)),
      el('td', {}, el('span', { class: g.draining ? 'state draining' : 'state live' }, g.draining ? 'draining' : 'live')),
      el('td', {}, g.version ?? 'unknown'),
    ));
  }

  const panels = byId('panels');
  clear(panels);
  for (const p of o.panels) {
    const dl = el('dl', { class: 'facts' });
    for (const r of p.rows) dl.append(el('dt', {}, r.label), el('dd', {}, typeof r.value === 'number' ? fmtInt(r.value) : r.value));
    panels.append(el('div', { class: 'card', 'data-panel': p.id }, el('h3', {}, p.title), dl));
  }
}

function schedulePoll(): void {
  if (pollTimer !== undefined) clearTimeout(pollTimer);
  pollTimer = setTimeout(() => void poll(), POLL_MS);
}

async function poll(): Promise<void> {
  if (token === '') return;
  try {
    renderOverview(await api<Overview>('/console/api/overview'));
    if (shownUser !== undefined) renderUser(await api<UserView>(`/console/api/users/${encodeURIComponent(shownUser)}`));
  } catch (err) {
    if (err instanceof Unauthorized) { signOut('The console token is no longer accepted.'); return; }
    byId('overview-error').textContent = `Refresh failed: ${(err as Error).message}`;
  }
  schedulePoll();
}

// ---- user -------------------------------------------------------------------------

function renderUser(u: UserView): void {
  shownUser = u.user;
  byId('user-result').hidden = false;
  byId('user-title').textContent = `${u.user}: ${u.online ? `online, ${u.connections.length} connection${u.connections.length === 1 ? '' : 's'}` : 'offline'}`;
  const facts = byId('user-facts');
  clear(facts);
  const cursors = Object.entries(u.inbox.cursors).map(([d, s]) => `${d} ${s}`).join(', ');
  facts.append(
    el('dt', {}, 'latest seq'), el('dd', { id: 'fact-latest-seq' }, fmtInt(u.inbox.latestSeq)),
    el('dt', {}, 'inbox depth'), el('dd', { id: 'fact-depth' }, fmtInt(u.inbox.depth)),
    el('dt', {}, 'acked up to'), el('dd', { id: 'fact-cursors' }, cursors === '' ? 'no device has acked' : cursors),
  );
  const body = byId('connections').querySelector('tbody')!;
  clear(body);
  if (u.connections.length === 0) body.append(el('tr', {}, el('td', { colspan: '4', class: 'muted' }, 'No live connection.')));
  for (const c of u.connections) {
    const kick = el('button', { type: 'button', class: 'danger small' }, 'Kick');
    kick.addEventListener('click', () => void confirmControl('kick', u.user, c.device));
    const out = el('button', { type: 'button', class: 'danger small' }, 'Log out');
    out.addEventListener('click', () => void confirmControl('logout', u.user, c.device));
    body.append(el('tr', { 'data-device': c.device },
      el('th', { scope: 'row' }, el('span', { class: 'device' }, c.device), el('span', { class: 'mono muted conn' }, c.conn)),
      el('td', {}, c.gateway),
      el('td', {}, fmtTime(c.since), el('span', { class: 'muted ago' }, `${fmtAgo(Date.now() - c.since)} ago`)),
      el('td', {}, el('div', { class: 'row-actions' }, kick, out)),
    ));
  }
  for (let i = watching.length - 1; i >= 0; i--) {
    const w = watching[i]!;
    if (w.user !== u.user) continue;
    const by = Object.entries(u.inbox.cursors).filter(([, s]) => s >= w.seq).map(([d]) => d);
    if (by.length > 0) {
      setReceipt(w.row, 'acked', `acked by ${by.join(', ')}`);
      watching.splice(i, 1);
    } else if (Date.now() > w.until) {
      setReceipt(w.row, w.row.dataset.status ?? 'sent', 'no ack seen (the client may not ack)');
      watching.splice(i, 1);
    }
  }
}

async function lookup(user: string): Promise<void> {
  byId('user-error').textContent = '';
  try {
    renderUser(await api<UserView>(`/console/api/users/${encodeURIComponent(user)}`));
  } catch (err) {
    if (err instanceof Unauthorized) { signOut('The console token is no longer accepted.'); return; }
    byId('user-error').textContent = (err as Error).message;
  }
}

// ---- kick / logout with confirmation ----------------------------------------------

function confirm(title: string, text: string, action: string): Promise<boolean> {
  const d = byId<HTMLDialogElement>('confirm');
  byId('confirm-title').textContent = title;
  byId('confirm-ok').textContent = action;
  byId('confirm-text').textContent = text;
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      byId('confirm-ok').removeEventListener('click', onOk);
      byId('confirm-cancel').removeEventListener('click', onCancel);
      d.removeEventListener('cancel', onCancel);
      if (d.open) d.close();
      resolve(ok);
    };
    const onOk = (): void => done(true);
    const onCancel = (): void => done(false);
    byId('confirm-ok').addEventListener('click', onOk);
    byId('confirm-cancel').addEventListener('click', onCancel);
    d.addEventListener('cancel', onCancel);
    d.showModal();
    // The safe choice has the focus: Enter on an accidental open does nothing harmful.
    byId('confirm-cancel').focus();
  });
}

async function confirmControl(type: 'kick' | 'logout', user: string, device?: string): Promise<void> {
  const who = device === undefined ? `every device of ${user}` : `${user}'s device "${device}"`;
  const what = type === 'kick'
    ? `Kick ${who}? The connection is closed; the client may reconnect.`
    : `Log out ${who}? The connection is closed and its session dropped; the client must sign in again.`;
  const action = type === 'kick' ? 'Kick' : 'Log out';
  if (!(await confirm(`${action}?`, what, action))) return;
  try {
    const r = await api<{ gateways: number; connections: number }>('/console/api/control', { type, user, ...(device !== undefined ? { device } : {}) });
    byId('control-result').textContent = `${type} sent to ${r.gateways} gateway${r.gateways === 1 ? '' : 's'} (${r.connections} connection${r.connections === 1 ? '' : 's'}).`;
    await lookup(user);
  } catch (err) {
    if (err instanceof Unauthorized) { signOut('The console token is no longer accepted.'); return; }
    byId('control-result').textContent = `${type} failed: ${(err as Error).message}`;
  }
}

// ---- test push and its receipt ----------------------------------------------------

/** The row's status shows the whole way so far, e.g. "sending → delivered → acked". */
function setReceipt(row: HTMLElement, status: string, note: string): void {
  const trail = row.dataset.trail ? row.dataset.trail.split(' ') : [];
  if (trail.at(-1) !== status) trail.push(status);
  row.dataset.trail = trail.join(' ');
  row.dataset.status = status;
  const s = row.querySelector('.status')!;
  s.textContent = trail.join(' → ');
  s.className = `status st-${status}`;
  row.querySelector('.note')!.textContent = note;
}

async function testPush(user: string, raw: string): Promise<void> {
  byId('push-error').textContent = '';
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    byId('push-error').textContent = 'Data must be valid JSON.';
    return;
  }
  const row = el('li', { class: 'receipt' }, el('span', { class: 'when' }, fmtTime(Date.now())), el('span', { class: 'seq' }, ''), el('span', { class: 'status' }, ''), el('span', { class: 'note' }, ''));
  setReceipt(row, 'sending', 'waiting for the gateway\'s receipt');
  byId('receipts').prepend(row);
  try {
    const r = await api<PushAnswer>('/console/api/push', { user, data });
    row.querySelector('.seq')!.textContent = `seq ${r.seq}`;
    row.dataset.seq = String(r.seq);
    const notes: Record<string, string> = {
      delivered: `written to ${r.connections} connection${r.connections === 1 ? '' : 's'}; waiting for the client's ack`,
      stored: 'sent, no receipt in time: kept in the inbox for the next resume',
      offline: 'user offline: kept in the inbox until a device connects and acks',
      sent: 'sent to the gateway',
    };
    setReceipt(row, r.status, notes[r.status] ?? '');
    watching.push({ user, seq: r.seq, until: Date.now() + ACK_WATCH_MS, row });
    await lookup(user);
  } catch (err) {
    if (err instanceof Unauthorized) { signOut('The console token is no longer accepted.'); return; }
    setReceipt(row, 'failed', (err as Error).message);
  }
}

// ---- wiring -----------------------------------------------------------------------

function main(): void {
  byId('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const t = byId<HTMLInputElement>('token').value.trim();
    if (t !== '') void signIn(t);
  });
  byId('signout').addEventListener('click', () => signOut('Signed out.'));
  window.addEventListener('resize', () => {
    if (lastOverview && token !== '') drawChart(byId('chart') as unknown as SVGElement, byId('legend'), lastOverview.history, lastOverview.now);
  });
  byId('lookup-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const u = byId<HTMLInputElement>('lookup').value.trim();
    if (u !== '') void lookup(u);
  });
  byId('push-form').addEventListener('submit', (e) => {
    e.preventDefault();
    if (shownUser !== undefined) void testPush(shownUser, byId<HTMLTextAreaElement>('push-data').value);
  });
  byId('kick-all').addEventListener('click', () => { if (shownUser !== undefined) void confirmControl('kick', shownUser); });
  byId('logout-all').addEventListener('click', () => { if (shownUser !== undefined) void confirmControl('logout', shownUser); });
  if (token !== '') void signIn(token);
  else showSignedIn(false);
}

main();
