// People: search the list, add a person (then enroll their photos on their page).

import { api, query } from '../api.js';
import { alertBox, empty, h, heading, loading, replace } from '../dom.js';
import { plural } from '../format.js';

export const title = 'People';
const PAGE = 50;

function initials(name) {
  return name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join('');
}

function personItem(p) {
  return h('li', {}, h('a', { href: `#/people/${p.id}`, class: 'person-line' },
    h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(p.name)),
    h('span', { class: 'grow' }, h('strong', {}, p.name), p.external_id ? h('span', { class: 'muted' }, ` · ${p.external_id}`) : null),
    h('span', { class: p.face_count ? 'muted' : 'badge warn' }, p.face_count ? plural(p.face_count, 'face') : 'no faces yet')));
}

export function render(main) {
  const list = h('div', {}, loading());
  const search = h('input', { type: 'search', id: 'people-search', placeholder: 'Part of a name', autocomplete: 'off' });
  const name = h('input', { type: 'text', id: 'new-name', maxlength: 200, required: true, autocomplete: 'off' });
  const externalId = h('input', { type: 'text', id: 'new-external', maxlength: 200, autocomplete: 'off' });
  const createMessage = h('div', { 'aria-live': 'assertive' });
  const create = h('form', { class: 'inline-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'new-name' }, 'Name'), name),
    h('div', { class: 'field' }, h('label', { for: 'new-external' }, 'Your own id (optional)'), externalId),
    h('button', { type: 'submit', class: 'primary' }, 'Add person'));
  main.append(heading('People'),
    h('section', { 'aria-labelledby': 'add-h', class: 'panel' }, h('h2', { id: 'add-h' }, 'Add a person'), create,
      createMessage),
    h('section', { 'aria-labelledby': 'list-h' }, h('div', { class: 'page-head' }, h('h2', { id: 'list-h' }, 'Everyone'),
      h('div', { class: 'field search' }, h('label', { for: 'people-search' }, 'Search'), search)), list));

  create.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!name.value.trim()) {
      replace(createMessage, alertBox('Enter a name.'));
      name.focus();
      return;
    }
    try {
      const body = { name: name.value.trim() };
      if (externalId.value.trim()) body.external_id = externalId.value.trim();
      const person = await api('/api/persons', { method: 'POST', json: body });
      location.hash = `#/people/${person.id}`;
    } catch (err) {
      replace(createMessage, alertBox(err.message));
    }
  });

  let stopped = false;
  let items = [];
  let seq = 0;
  async function load(offset = 0) {
    const mine = ++seq;
    try {
      const page = await api(`/api/persons${query({ q: search.value.trim(), limit: PAGE, offset })}`);
      if (stopped || mine !== seq) return;
      items = offset ? [...items, ...page.items] : page.items;
      const more = items.length < page.total
        ? h('button', { type: 'button', onclick: () => load(items.length) }, `Show more (${page.total - items.length} left)`)
        : null;
      replace(list, items.length
        ? [h('p', { class: 'muted small' }, plural(page.total, 'person', 'people')),
          h('ul', { class: 'plain-list people' }, items.map(personItem)), more]
        : empty(search.value.trim() ? `Nobody matches “${search.value.trim()}”.` : 'No people yet: add the first one above.'));
    } catch (err) {
      if (!stopped) replace(list, alertBox(err.message));
    }
  }
  let debounce = null;
  search.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => load(), 250);
  });
  load();
  return () => { stopped = true; clearTimeout(debounce); };
}
