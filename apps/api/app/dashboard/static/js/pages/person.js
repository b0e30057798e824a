// One person: rename, enroll many photos at once (a result per photo, with the face crop),
// remove a face, delete the person.

import { api } from '../api.js';
import { alertBox, badge, dropZone, empty, h, heading, loading, replace, toast } from '../dom.js';
import { sentence } from '../errors.js';
import { ago, plural, when } from '../format.js';

export const title = 'Person';
const ENROLL_BATCH = 20; // the API's default ENROLL_MAX_FILES

const REFUSALS = {
  no_face: 'No face found in this photo.',
  unavailable: 'No worker could analyse it; try again when one is connected.',
};

function refusal(item) {
  return REFUSALS[item.code] || sentence(item.reason || item.code || 'not enrolled');
}

/** Enroll `files` ([File|Blob with a name]) into `personId`, in batches; results in order. */
export async function enroll(personId, files, names = files.map((f) => f.name)) {
  const results = [];
  for (let i = 0; i < files.length; i += ENROLL_BATCH) {
    const form = new FormData();
    files.slice(i, i + ENROLL_BATCH).forEach((f, j) => form.append('files', f, names[i + j]));
    const out = await api(`/api/persons/${personId}/faces`, { method: 'POST', form });
    results.push(...out.results);
  }
  return results;
}

function faceTile(face, onRemove) {
  return h('li', { class: 'face-tile' },
    h('img', { src: face.crop_url, alt: `Face from ${face.source_name}`, width: 128, height: 128, loading: 'lazy' }),
    h('span', { class: 'small ellipsis', title: face.source_name }, face.source_name),
    h('span', { class: 'small muted' }, `${face.quality.size} px · ${when(face.created_at)}`),
    h('button', { type: 'button', class: 'danger small-button', onclick: () => onRemove(face),
      'aria-label': `Remove the face from ${face.source_name}` }, 'Remove'));
}

function resultItem(file, item) {
  const preview = h('img', { src: URL.createObjectURL(file), alt: '', class: 'preview', width: 64, height: 64 });
  preview.addEventListener('load', () => URL.revokeObjectURL(preview.src), { once: true });
  preview.addEventListener('error', () => {
    URL.revokeObjectURL(preview.src);
    preview.replaceWith(h('span', { class: 'preview none', 'aria-hidden': 'true' }, '?'));
  }, { once: true });
  const ok = item.status === 'enrolled';
  return h('li', { class: `enroll-result ${ok ? 'ok' : 'refused'}` },
    preview,
    ok ? h('img', { src: item.face.crop_url, alt: 'The face enrolled', class: 'crop', width: 64, height: 64 }) : null,
    h('span', { class: 'grow' }, h('strong', { class: 'ellipsis' }, item.filename), h('br'),
      ok ? badge('Enrolled', 'ok') : [badge('Not enrolled', 'error'), ' ', refusal(item)]));
}

export function render(main, { params }) {
  const id = Number(params[0]);
  const head = h('div', {}, loading());
  const faces = h('div', {}, loading());
  const results = h('div', { 'aria-live': 'polite' });
  main.append(head,
    h('section', { 'aria-labelledby': 'enroll-h', class: 'panel' }, h('h2', { id: 'enroll-h' }, 'Add photos'),
      h('p', { class: 'muted' }, 'Each photo should show this person alone, face clearly visible. Several photos '
        + '(different days, light, angles) make recognition more reliable.'),
      dropZone({ label: 'Choose photos…', hint: 'or drop several photos here', multiple: true, onFiles: upload }),
      results),
    h('section', { 'aria-labelledby': 'faces-h' }, h('h2', { id: 'faces-h' }, 'Enrolled faces'), faces));
  let stopped = false;
  let person = null;

  async function loadPerson() {
    try {
      person = await api(`/api/persons/${id}`);
      if (stopped) return;
      document.title = `${person.name} · FaceGrid`;
      drawHead();
    } catch (err) {
      if (!stopped) replace(head, heading('Person'), alertBox(err.message), h('a', { href: '#/people' }, 'Back to people'));
    }
  }

  function drawHead() {
    const nameInput = h('input', { id: 'person-name', type: 'text', value: person.name, maxlength: 200 });
    const rename = h('form', { class: 'inline-form' },
      h('div', { class: 'field' }, h('label', { for: 'person-name' }, 'Name'), nameInput),
      h('button', { type: 'submit' }, 'Rename'));
    rename.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        person = { ...person, ...await api(`/api/persons/${id}`, { method: 'PATCH', json: { name: nameInput.value.trim() } }) };
        toast('Name saved.');
        drawHead();
      } catch (err) {
        toast(err.message, 'error');
      }
    });
    const seen = person.last_seen;
    replace(head,
      h('div', { class: 'page-head' }, heading(person.name),
        h('button', { type: 'button', class: 'danger', onclick: removePerson }, 'Delete person')),
      h('p', { class: 'muted' }, plural(person.face_count, 'enrolled face'),
        person.external_id ? ` · id ${person.external_id}` : '', ' · ',
        seen ? h('a', { href: `#/events/${seen.event_id}` }, `last seen on ${seen.camera_name || 'a camera'} ${ago(seen.at)}`)
          : 'not seen by a camera yet', ' · ',
        h('a', { href: `#/events?person_id=${id}` }, 'their events')),
      rename);
  }

  async function loadFaces() {
    try {
      const list = await api(`/api/persons/${id}/faces`);
      if (stopped) return;
      replace(faces, list.length ? h('ul', { class: 'face-grid' }, list.map((f) => faceTile(f, removeFace)))
        : empty('No faces yet: add photos above.'));
    } catch (err) {
      if (!stopped) replace(faces, alertBox(err.message));
    }
  }

  async function upload(files) {
    replace(results, loading(`Enrolling ${plural(files.length, 'photo')}…`));
    try {
      const out = await enroll(id, files);
      const done = out.filter((r) => r.status === 'enrolled').length;
      replace(results, h('p', {}, `${done} of ${plural(files.length, 'photo')} enrolled.`),
        h('ul', { class: 'plain-list' }, out.map((item, i) => resultItem(files[i], item))));
      loadPerson();
      loadFaces();
    } catch (err) {
      replace(results, alertBox(err.message));
    }
  }

  async function removeFace(face) {
    if (!confirm(`Remove the face from ${face.source_name}? It will no longer be used to recognise ${person.name}.`)) return;
    try {
      await api(`/api/faces/${face.id}`, { method: 'DELETE' });
      toast('Face removed.');
      loadPerson();
      loadFaces();
    } catch (err) {
      toast(err.message, 'error');
    }
  }

  async function removePerson() {
    if (!confirm(`Delete ${person.name} with all their faces? Cameras will no longer recognise them.`)) return;
    try {
      await api(`/api/persons/${id}`, { method: 'DELETE' });
      toast(`${person.name} deleted.`);
      location.hash = '#/people';
    } catch (err) {
      toast(err.message, 'error');
    }
  }

  loadPerson();
  loadFaces();
  return () => { stopped = true; };
}
