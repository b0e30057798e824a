// Try a photo: every face boxed with its name or "unknown", and the top candidates for each.

import { api } from '../api.js';
import { alertBox, badge, dropZone, h, heading, loading, replace } from '../dom.js';
import { boxedImage, loaded } from '../boxes.js';
import { percent, plural } from '../format.js';

export const title = 'Try a photo';

function faceItem(face, n) {
  const m = face.match;
  return h('li', { class: 'face-result' },
    h('h3', {}, `${n}. `, m ? m.name : badge('unknown', 'warn'), m ? h('span', { class: 'muted' }, ` · ${percent(m.similarity)} match`) : null),
    face.candidates.length
      ? h('ol', { class: 'candidates', 'aria-label': `Closest people for face ${n}` }, face.candidates.map((c) => h('li', {},
        h('a', { href: `#/people/${c.person_id}` }, c.name), ` — ${percent(c.similarity)} (distance ${c.distance})`)))
      : h('p', { class: 'muted small' }, 'Nobody is enrolled yet to compare with.'),
    h('p', { class: 'muted small' }, `Face ${face.box.width}×${face.box.height} px at (${face.box.x}, ${face.box.y}).`));
}

export function render(main) {
  const out = h('div', { 'aria-live': 'polite' });
  let stopped = false;
  let url = null;
  main.append(heading('Try a photo'),
    h('p', { class: 'muted' }, 'See who FaceGrid finds in any picture. The photo is analysed and not stored.'),
    dropZone({ label: 'Choose a photo…', hint: 'or drop one here (JPEG, PNG, WebP, BMP or TIFF)', multiple: false,
      onFiles: ([file]) => recognize(file) }),
    out);

  async function recognize(file) {
    replace(out, loading(`Looking for faces in ${file.name}…`));
    const form = new FormData();
    form.append('file', file, file.name);
    form.append('top_k', '3');
    try {
      const result = await api('/api/recognize', { method: 'POST', form });
      if (stopped) return;
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(file);
      const img = h('img', { src: url, alt: `The photo ${file.name}`, class: 'photo' });
      await loaded(img);
      const faces = result.faces.map((f, i) => ({
        box: f.box, known: Boolean(f.match), label: `${i + 1} · ${f.match ? f.match.name : 'unknown'}`,
      }));
      const known = result.faces.filter((f) => f.match).length;
      replace(out,
        h('p', {}, result.faces.length
          ? `${plural(result.faces.length, 'face')} found: ${known} recognised, ${result.faces.length - known} unknown.`
          : 'No face found in this photo.'),
        h('div', { class: 'try-result' },
          boxedImage(img, result.width, result.height, faces),
          result.faces.length ? h('ol', { class: 'plain-list' }, result.faces.map((f, i) => faceItem(f, i + 1))) : null));
    } catch (err) {
      if (!stopped) replace(out, alertBox(err.message));
    }
  }
  return () => {
    stopped = true;
    if (url) URL.revokeObjectURL(url);
  };
}
