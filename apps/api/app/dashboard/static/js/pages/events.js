// Events: newest first, with filters (kept in the address so they can be shared and go back),
// and new or updated events slotted in live from the events feed.

import { api, query } from '../api.js';
import { alertBox, badge, empty, h, heading, loading, replace } from '../dom.js';
import { onStatus, subscribe } from '../feed.js';
import { duration, fromLocalInput, percent, plural, toLocalInput, when } from '../format.js';

export const title = 'Events';
const PAGE = 50;

/** The API's filters from the page address (#/events?person_id=..&camera_id=..&who=..&since=..&until=..). */
function filtersFrom(q) {
  const who = q.get('who');
  return {
    person_id: q.get('person_id') || '',
    camera_id: q.get('camera_id') || '',
    unknown: who === 'unknown' ? 'true' : who === 'known' ? 'false' : '',
    since: q.get('since') || '',
    until: q.get('until') || '',
  };
}

/** Whether an event belongs in a list with these filters (the API applies the same rules). */
export function matches(e, f) {
  if (f.camera_id && e.camera_id !== Number(f.camera_id)) return false;
  if (f.person_id && e.person_id !== Number(f.person_id)) return false;
  if (f.unknown === 'true' && e.person_id !== null) return false;
  if (f.unknown === 'false' && e.person_id === null) return false;
  if (f.since && new Date(e.last_seen) < new Date(f.since)) return false;
  if (f.until && new Date(e.first_seen) > new Date(f.until)) return false;
  return true;
}

function eventRow(e) {
  return h('li', { 'data-event': e.id }, h('a', { href: `#/events/${e.id}`, class: 'event-row' },
    h('img', { src: `${e.face_url}?v=${e.samples}`, alt: '', width: 64, height: 64, loading: 'lazy', class: 'crop' }),
    h('span', { class: 'who' }, e.person_name ? h('strong', {}, e.person_name) : badge('unknown', 'warn'),
      e.ended ? null : [' ', badge('in view now', 'ok')]),
    h('span', { class: 'where' }, e.camera_name || `camera ${e.camera_id}`),
    h('span', { class: 'when' }, h('time', { datetime: e.first_seen }, when(e.first_seen)),
      h('span', { class: 'muted small' }, ` · ${duration(e.first_seen, e.last_seen)}`)),
    h('span', { class: 'score', title: e.distance === null ? '' : `distance ${e.distance}` },
      e.person_name ? `${percent(e.similarity)} match` : e.similarity === null ? '' : `nearest ${percent(e.similarity)}`)));
}

function filterForm(f, people, cameras) {
  const who = f.unknown === 'true' ? 'unknown' : f.unknown === 'false' ? 'known' : '';
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter events' },
    h('div', { class: 'field' }, h('label', { for: 'f-person' }, 'Person'),
      h('select', { id: 'f-person', name: 'person_id', value: f.person_id }, h('option', { value: '' }, 'Anyone'),
        people.map((p) => h('option', { value: String(p.id) }, p.name)))),
    h('div', { class: 'field' }, h('label', { for: 'f-camera' }, 'Camera'),
      h('select', { id: 'f-camera', name: 'camera_id', value: f.camera_id }, h('option', { value: '' }, 'Any camera'),
        cameras.map((c) => h('option', { value: String(c.id) }, c.name)))),
    h('div', { class: 'field' }, h('label', { for: 'f-who' }, 'Faces'),
      h('select', { id: 'f-who', name: 'who', value: who }, h('option', { value: '' }, 'Known and unknown'),
        h('option', { value: 'known' }, 'Known only'), h('option', { value: 'unknown' }, 'Unknown only'))),
    h('div', { class: 'field' }, h('label', { for: 'f-since' }, 'From'),
      h('input', { id: 'f-since', name: 'since', type: 'datetime-local', value: toLocalInput(f.since) })),
    h('div', { class: 'field' }, h('label', { for: 'f-until' }, 'To'),
      h('input', { id: 'f-until', name: 'until', type: 'datetime-local', value: toLocalInput(f.until) })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Apply'),
      h('a', { class: 'button', href: '#/events' }, 'Clear')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = new FormData(form);
    location.hash = `#/events${query({
      person_id: data.get('person_id'), camera_id: data.get('camera_id'), who: data.get('who'),
      since: fromLocalInput(data.get('since')), until: fromLocalInput(data.get('until')),
    })}`;
  });
  return form;
}

export function render(main, { query: q }) {
  const f = filtersFrom(q);
  const filters = h('div', {}, loading('Loading filters…'));
  const liveState = h('span', { class: 'live-state', role: 'status' });
  const count = h('p', { class: 'muted small' });
  const listBox = h('div', {}, loading());
  main.append(h('div', { class: 'page-head' }, heading('Events'), liveState), filters, count, listBox);

  let stopped = false;
  let items = [];
  let total = 0;
  const list = h('ol', { class: 'plain-list events', reversed: true });

  Promise.all([api('/api/persons?limit=500'), api('/api/cameras')]).then(([people, cameras]) => {
    if (!stopped) replace(filters, filterForm(f, people.items, cameras));
  }).catch((err) => { if (!stopped) replace(filters, alertBox(err.message)); });

  function draw() {
    replace(count, `${plural(total, 'event')}${total > items.length ? `, newest ${items.length} shown` : ''}.`);
    if (!items.length) {
      replace(listBox, empty(Object.values(f).some(Boolean) ? 'No events match these filters.'
        : 'No events yet. They appear here, live, when a camera sees a face.'));
      return;
    }
    replace(list, items.map(eventRow));
    const more = items.length < total
      ? h('button', { type: 'button', onclick: () => load(items.length) }, 'Show older events') : null;
    replace(listBox, list, more);
  }

  async function load(offset = 0) {
    try {
      const page = await api(`/api/events${query({ ...f, limit: PAGE, offset })}`);
      if (stopped) return;
      items = offset ? [...items, ...page.items.filter((e) => !items.some((i) => i.id === e.id))] : page.items;
      total = page.total;
      draw();
    } catch (err) {
      if (!stopped) replace(listBox, alertBox(err.message));
    }
  }

  async function arrived(notice) {
    let event;
    try {
      event = await api(`/api/events/${notice.event_id}`);
    } catch {
      return; // deleted meanwhile
    }
    if (stopped) return;
    const at = items.findIndex((e) => e.id === event.id);
    if (at >= 0) items.splice(at, 1);
    else if (matches(event, f)) total += 1;
    if (!matches(event, f)) {
      if (at >= 0) total -= 1;
      draw();
      return;
    }
    items.push(event);
    items.sort((a, b) => new Date(b.first_seen) - new Date(a.first_seen) || b.id - a.id);
    draw();
    const row = list.querySelector(`[data-event="${event.id}"]`);
    if (row && at < 0) row.classList.add('fresh');
  }

  const unsubscribe = subscribe(arrived);
  const unwatch = onStatus((s) => replace(liveState, s === 'live' ? badge('● live', 'ok')
    : s === 'connecting' ? badge('reconnecting…', 'warn') : ''));
  load();
  return () => { stopped = true; unsubscribe(); unwatch(); };
}
