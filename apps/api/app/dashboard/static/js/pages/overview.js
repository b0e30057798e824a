// Overview: what needs attention first, then workers and cameras, refreshed every few seconds,
// and the latest events as they happen.

import { api } from '../api.js';
import { alertBox, badge, empty, h, heading, loading, replace, replaceKeepingFocus, toast } from '../dom.js';
import { subscribe } from '../feed.js';
import { ago, fps, when } from '../format.js';
import { PROBLEM_STATES, stateBadge } from './cameras.js';

export const title = 'Overview';
const POLL_MS = 3000;

export function attention(workers, cameras) {
  const items = [];
  const online = workers.filter((w) => w.status !== 'offline');
  if (!online.length) {
    items.push(['error', 'No worker is connected. Nothing can be recognised and no camera runs until one '
      + 'connects: start one with scripts/run.sh, or python -m app.main in apps/worker.']);
  } else if (online.every((w) => w.status === 'draining')) {
    items.push(['warn', 'Every connected worker is draining: no new jobs or cameras go to them. Resume one below.']);
  }
  for (const c of cameras) {
    const s = c.status;
    if (PROBLEM_STATES.has(s.state)) {
      const what = { error: 'is failing', reconnecting: 'is reconnecting', failed: 'could not be started' };
      items.push(['error', `Camera “${c.name}” ${what[s.state]}${s.reason ? `: ${s.reason}` : '.'}`]);
    } else if (c.enabled && s.state === 'unassigned' && online.length) {
      items.push(['warn', `Camera “${c.name}” is not running: ${s.reason || 'it waits for a worker with room'}.`]);
    }
  }
  return items;
}

function workerRow(w, cameras, refresh) {
  const running = cameras.filter((c) => c.status.worker_id === w.id).length;
  const caps = w.capabilities || {};
  const online = w.status !== 'offline';
  const action = !online ? null : w.status === 'draining'
    ? h('button', { type: 'button', 'data-key': `worker:${w.id}`, onclick: () => act(w.id, 'resume', refresh) }, 'Resume')
    : h('button', { type: 'button', 'data-key': `worker:${w.id}`, onclick: () => act(w.id, 'drain', refresh) }, 'Drain');
  return h('tr', {},
    h('td', { 'data-label': 'Worker' }, h('strong', {}, w.id)),
    h('td', { 'data-label': 'Status' }, badge(w.status, online ? (w.status === 'draining' ? 'warn' : 'ok') : 'off')),
    h('td', { 'data-label': 'Host' }, `${w.hostname} (pid ${w.pid})`),
    h('td', { 'data-label': 'Version' }, w.version),
    h('td', { 'data-label': 'Load' }, online ? `${w.jobs_in_flight} / ${caps.max_jobs ?? '?'} jobs` : '—'),
    h('td', { 'data-label': 'Cameras' }, `${running} / ${caps.max_cameras ?? '?'}`),
    h('td', { 'data-label': 'Last heartbeat' }, h('time', { datetime: w.last_heartbeat, title: when(w.last_heartbeat) },
      ago(w.last_heartbeat))),
    h('td', { 'data-label': 'Actions' }, action),
  );
}

async function act(workerId, verb, refresh) {
  try {
    await api(`/api/workers/${encodeURIComponent(workerId)}/${verb}`, { method: 'POST' });
    toast(verb === 'drain' ? `${workerId} gets no new work now.` : `${workerId} takes work again.`);
    refresh();
  } catch (err) {
    toast(err.message, 'error');
  }
}

function cameraRow(c) {
  const s = c.status;
  return h('tr', {},
    h('td', { 'data-label': 'Camera' }, h('a', { href: `#/cameras/${c.id}`, 'data-key': `camera:${c.id}` }, c.name)),
    h('td', { 'data-label': 'State' }, stateBadge(s.state), s.reason ? h('span', { class: 'muted small' }, ` ${s.reason}`) : null),
    h('td', { 'data-label': 'Speed' }, s.worker_id ? `${fps(s.processed_fps)} analysed of ${fps(s.input_fps)}` : '—'),
    h('td', { 'data-label': 'Worker' }, s.worker_id || '—'),
    h('td', { 'data-label': 'Last frame' }, s.last_frame_at ? ago(s.last_frame_at) : '—'),
  );
}

function table(caption, headers, rows) {
  return h('table', { class: 'grid-table' },
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows));
}

function eventItem(e) {
  return h('li', {},
    h('a', { href: `#/events/${e.id}`, class: 'event-line' },
      h('img', { src: e.face_url, alt: '', width: 40, height: 40, loading: 'lazy' }),
      h('span', {}, e.person_name ? h('strong', {}, e.person_name) : badge('unknown', 'warn')),
      h('span', { class: 'muted' }, ` on ${e.camera_name || `camera ${e.camera_id}`}, ${ago(e.first_seen)}`)));
}

export function render(main) {
  const needs = h('section', { 'aria-labelledby': 'attention-h' }, h('h2', { id: 'attention-h' }, 'Needs attention'),
    loading());
  const workersBox = h('div', {}, loading());
  const camerasBox = h('div', {}, loading());
  const latest = h('div', {}, loading());
  const updated = h('p', { class: 'muted small', 'aria-live': 'off' });
  main.append(
    heading('Overview'), updated, needs,
    h('section', { 'aria-labelledby': 'workers-h' }, h('h2', { id: 'workers-h' }, 'Workers'), workersBox),
    h('section', { 'aria-labelledby': 'cameras-h' }, h('h2', { id: 'cameras-h' }, 'Cameras'), camerasBox),
    h('section', { 'aria-labelledby': 'latest-h' }, h('h2', { id: 'latest-h' }, 'Latest events'), latest),
  );

  let timer = null;
  let stopped = false;
  async function refresh() {
    clearTimeout(timer);
    try {
      const [workers, cameras] = await Promise.all([api('/api/workers'), api('/api/cameras')]);
      if (stopped) return;
      const items = attention(workers, cameras);
      replace(needs, h('h2', { id: 'attention-h' }, 'Needs attention'), items.length
        ? h('ul', { class: 'attention' }, items.map(([kind, text]) => h('li', { class: kind }, text)))
        : h('p', { class: 'all-good' }, `All good: ${workers.filter((w) => w.status !== 'offline').length} `
          + `worker(s) online, ${cameras.filter((c) => c.status.state === 'streaming').length} camera(s) streaming.`));
      replaceKeepingFocus(workersBox, workers.length
        ? table('Workers', ['Worker', 'Status', 'Host', 'Version', 'Load', 'Cameras', 'Last heartbeat', ''],
          workers.map((w) => workerRow(w, cameras, refresh)))
        : empty('No worker has connected in the last 24 hours.'));
      replaceKeepingFocus(camerasBox, cameras.length
        ? table('Cameras', ['Camera', 'State', 'Speed', 'Worker', 'Last frame'], cameras.map(cameraRow))
        : empty('No cameras yet.', h('a', { href: '#/cameras/new', class: 'button' }, 'Add a camera')));
      replace(updated, `Updated ${new Date().toLocaleTimeString()}; refreshes every ${POLL_MS / 1000} s.`);
    } catch (err) {
      if (!stopped) replace(updated, alertBox(`Could not refresh: ${err.message}`));
    }
    if (!stopped) timer = setTimeout(refresh, POLL_MS);
  }

  let pending = null;
  async function loadLatest() {
    pending = null;
    try {
      const page = await api('/api/events?limit=8');
      if (stopped) return;
      replace(latest, page.items.length
        ? h('ul', { class: 'plain-list' }, page.items.map(eventItem))
        : empty('No events yet: they appear here when a camera sees a face.'));
    } catch (err) {
      replace(latest, alertBox(err.message));
    }
  }
  const unsubscribe = subscribe(() => { pending = pending || setTimeout(loadLatest, 500); });

  refresh();
  loadLatest();
  return () => {
    stopped = true;
    clearTimeout(timer);
    clearTimeout(pending);
    unsubscribe();
  };
}
