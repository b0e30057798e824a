// Unknown faces -> people: pick faces the cameras could not name and give them to an existing
// or a new person in one step (POST /api/events/assign): each event's best face is enrolled for
// that person and the event names them from then on, here and on the events page.

import { api } from '../api.js';
import { alertBox, badge, empty, h, heading, loading, replace, toast } from '../dom.js';
import { subscribe } from '../feed.js';
import { ago, plural } from '../format.js';

export const title = 'Unknown faces';
const PAGE = 60;

export function render(main, { query: q }) {
  const preselect = new Set((q.get('select') || '').split(',').filter(Boolean).map(Number));
  const selected = new Set();
  const tiles = new Map(); // event id -> {el, checkbox, event}
  const grid = h('ul', { class: 'pick-grid' });
  const gridBox = h('div', {}, loading());
  const counter = h('span', { class: 'muted', role: 'status' });
  const results = h('div', { 'aria-live': 'polite' });
  const personSelect = h('select', { id: 'target-person' }, h('option', { value: '' }, 'Loading people…'));
  const newName = h('input', { id: 'target-new', type: 'text', maxlength: 200, autocomplete: 'off' });
  const modeExisting = h('input', { type: 'radio', name: 'target', id: 'mode-existing', value: 'existing', checked: true });
  const modeNew = h('input', { type: 'radio', name: 'target', id: 'mode-new', value: 'new' });
  const submit = h('button', { type: 'submit', class: 'primary', disabled: true }, 'Add faces');
  const form = h('form', { class: 'panel assign', novalidate: true },
    h('fieldset', {}, h('legend', {}, 'Add the selected faces to'),
      h('div', { class: 'field check' }, modeExisting, h('label', { for: 'mode-existing' }, 'Someone enrolled:')),
      h('div', { class: 'field indent' }, h('label', { for: 'target-person', class: 'visually-hidden' }, 'Person'), personSelect),
      h('div', { class: 'field check' }, modeNew, h('label', { for: 'mode-new' }, 'A new person named:')),
      h('div', { class: 'field indent' }, h('label', { for: 'target-new', class: 'visually-hidden' }, 'New person\'s name'), newName)),
    h('div', { class: 'actions' }, submit, counter,
      h('button', { type: 'button', onclick: () => setAll(true) }, 'Select all'),
      h('button', { type: 'button', onclick: () => setAll(false) }, 'Select none')),
    results);
  main.append(heading('Unknown faces → people'),
    h('p', { class: 'muted' }, 'Faces the cameras saw but could not name. Select the ones that show the same person '
      + 'and add them to that person: the cameras will recognise them from then on.'),
    form, gridBox);
  newName.addEventListener('focus', () => { modeNew.checked = true; });
  personSelect.addEventListener('focus', () => { modeExisting.checked = true; });

  let stopped = false;
  function updateCount() {
    replace(counter, selected.size ? `${plural(selected.size, 'face')} selected` : 'Select faces below');
    submit.disabled = !selected.size;
    replace(submit, selected.size ? `Add ${plural(selected.size, 'face')}` : 'Add faces');
  }

  function setAll(on) {
    for (const [id, t] of tiles) {
      if (t.done) continue;
      t.checkbox.checked = on;
      if (on) selected.add(id); else selected.delete(id);
    }
    updateCount();
  }

  function tile(e) {
    const checkbox = h('input', { type: 'checkbox', id: `pick-${e.id}`, class: 'pick' });
    const note = h('span', { class: 'small' });
    const el = h('li', { class: 'pick-tile', 'data-event': e.id },
      checkbox,
      h('label', { for: `pick-${e.id}` },
        h('img', { src: e.face_url, alt: `Unknown face ${e.id}`, width: 120, height: 120, loading: 'lazy' }),
        h('span', { class: 'small' }, e.camera_name || `camera ${e.camera_id}`),
        h('span', { class: 'small muted' }, ago(e.first_seen))),
      h('a', { href: `#/events/${e.id}`, class: 'small' }, 'details'),
      note);
    checkbox.addEventListener('change', () => {
      if (checkbox.checked) selected.add(e.id); else selected.delete(e.id);
      updateCount();
    });
    const t = { el, checkbox, event: e, note, done: false };
    tiles.set(e.id, t);
    if (preselect.has(e.id)) {
      checkbox.checked = true;
      selected.add(e.id);
    }
    return el;
  }

  function show() {
    if (!tiles.size) replace(gridBox, empty('No unknown faces. When a camera sees someone it cannot name, they show up here.'));
    else if (!grid.isConnected) replace(gridBox, grid);
    updateCount();
  }

  async function load() {
    try {
      const [page, people] = await Promise.all([
        api(`/api/events?unknown=true&limit=${PAGE}`), api('/api/persons?limit=500'),
      ]);
      if (stopped) return;
      replace(personSelect, people.items.length ? people.items.map((p) => h('option', { value: String(p.id) }, p.name))
        : h('option', { value: '' }, 'Nobody enrolled yet'));
      if (!people.items.length) modeNew.checked = true;
      grid.append(...page.items.map(tile));
      show();
    } catch (err) {
      if (!stopped) replace(gridBox, alertBox(err.message));
    }
  }

  /** The tile's face now belongs to someone (given here, in another tab, or recognised). */
  function named(t, name) {
    if (!t || t.done) return;
    replace(t.note, badge(`added to ${name}`, 'ok'));
    t.done = true;
    t.checkbox.checked = false;
    t.checkbox.disabled = true;
    t.el.classList.add('done');
    selected.delete(t.event.id);
  }

  const unsubscribe = subscribe(async (notice) => {
    if (notice.person_id !== null) {
      named(tiles.get(notice.event_id), notice.name);
      updateCount();
      return;
    }
    if (notice.kind !== 'created' || tiles.has(notice.event_id)) return;
    try {
      const e = await api(`/api/events/${notice.event_id}`);
      if (!stopped && e.person_id === null && !tiles.has(e.id)) {
        grid.prepend(tile(e));
        show();
      }
    } catch { /* deleted meanwhile */ }
  });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const ids = [...selected];
    if (!ids.length) return;
    const creating = modeNew.checked;
    if (creating && !newName.value.trim()) {
      replace(results, alertBox('Enter the new person\'s name.'));
      newName.focus();
      return;
    }
    if (!creating && !personSelect.value) {
      replace(results, alertBox('Choose a person, or add the faces to a new person.'));
      return;
    }
    submit.disabled = true;
    replace(results, loading(`Adding ${plural(ids.length, 'face')}…`));
    const target = creating ? { name: newName.value.trim() } : { person_id: Number(personSelect.value) };
    try {
      const out = await api('/api/events/assign', { method: 'POST', json: { event_ids: ids, ...target } });
      const person = out.person;
      out.events.forEach((e) => named(tiles.get(e.id), person.name));
      const added = `${plural(out.events.length, 'face')} added to ${person.name}.`;
      replace(results, alertBox(added, 'ok'), h('a', { href: `#/people/${person.id}` }, `Open ${person.name}`));
      if (creating) {
        newName.value = '';
        personSelect.append(h('option', { value: String(person.id) }, person.name));
      }
      toast(added);
    } catch (err) {
      replace(results, alertBox(err.message)); // all or nothing: no face was added
    } finally {
      updateCount();
    }
  });

  load();
  return () => { stopped = true; unsubscribe(); };
}
