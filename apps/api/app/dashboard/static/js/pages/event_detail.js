// One event: the snapshot with the face's box, the face crop and the facts; an unknown face
// can be sent to "Unknown faces" to be added to a person.

import { api } from '../api.js';
import { alertBox, badge, h, heading, loading, replace } from '../dom.js';
import { boxedImage, loaded } from '../boxes.js';
import { duration, percent, when } from '../format.js';

export const title = 'Event';
const SNAPSHOT_MAX_WIDTH = 960;
/** Workers shrink snapshots wider than this (keeping the aspect ratio); boxes are in frame pixels. */

/**
 * The size of the frame the event's box is measured in, or null if it cannot be known. The API
 * may give it (frame_width/frame_height); otherwise a snapshot narrower than the workers' cap
 * was not shrunk, so it is the frame; at the cap the frame may have been wider: unknown.
 */
function frameSize(event, naturalWidth, naturalHeight) {
  if (event.frame_width && event.frame_height) return [event.frame_width, event.frame_height];
  if (naturalWidth < SNAPSHOT_MAX_WIDTH) return [naturalWidth, naturalHeight];
  return null;
}

export function render(main, { params }) {
  const id = Number(params[0]);
  const box = h('div', {}, loading());
  main.append(box);
  let stopped = false;
  (async () => {
    try {
      const e = await api(`/api/events/${id}`);
      if (stopped) return;
      const who = e.person_name || 'Unknown face';
      const camera = e.camera_name || `camera ${e.camera_id}`;
      document.title = `${who} on ${camera} · FaceGrid`;
      const snapshot = h('div', { class: 'snapshot' }, loading('Loading the snapshot…'));
      replace(box,
        heading(`${who} on ${camera}`),
        h('div', { class: 'event-detail' }, snapshot,
          h('aside', { class: 'stack' },
            h('img', { src: e.face_url, alt: `Face of ${who}`, class: 'face-large', width: 160, height: 160 }),
            h('dl', { class: 'facts' },
              h('dt', {}, 'Who'), h('dd', {}, e.person_id
                ? h('a', { href: `#/people/${e.person_id}` }, e.person_name) : badge('unknown', 'warn')),
              h('dt', {}, 'Camera'), h('dd', {}, h('a', { href: `#/events?camera_id=${e.camera_id}` }, camera)),
              h('dt', {}, 'First seen'), h('dd', {}, when(e.first_seen)),
              h('dt', {}, 'Last seen'), h('dd', {}, `${when(e.last_seen)}${e.ended ? '' : ' (still in view)'}`),
              h('dt', {}, 'In view for'), h('dd', {}, duration(e.first_seen, e.last_seen)),
              h('dt', {}, e.person_id ? 'Similarity' : 'Nearest person'), h('dd', {}, e.similarity === null ? 'nobody enrolled'
                : `${percent(e.similarity)} (distance ${e.distance})`),
              h('dt', {}, 'Samples'), h('dd', {}, String(e.samples))),
            e.person_id ? null : h('a', { class: 'button primary', href: `#/unknown?select=${e.id}` },
              'Add this face to a person'),
            h('a', { href: '#/events' }, 'All events'))));
      const img = h('img', { src: e.snapshot_url, alt: `The camera's view when ${who} was seen`, class: 'snapshot-img' });
      replace(snapshot, img);
      try {
        await loaded(img);
      } catch {
        replace(snapshot, alertBox('No snapshot was saved for this event.', 'info'));
        return;
      }
      if (stopped) return;
      const size = frameSize(e, img.naturalWidth, img.naturalHeight);
      if (size) {
        replace(snapshot, boxedImage(img, size[0], size[1], [{ box: e.box, label: who, known: Boolean(e.person_id) }]));
      } else {
        snapshot.append(h('p', { class: 'hint' }, 'The box is not drawn: this snapshot was shrunk from a larger '
          + 'frame whose size the API does not report.'));
      }
    } catch (err) {
      if (!stopped) replace(box, heading('Event'), alertBox(err.message), h('a', { href: '#/events' }, 'All events'));
    }
  })();
  return () => { stopped = true; };
}
