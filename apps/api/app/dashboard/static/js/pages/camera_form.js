// Add or edit a camera. Checks the form before sending with the API's own limits, and shows the
// API's validation errors next to their fields. The saved address is only ever shown redacted,
// so editing never sends it back: a new address replaces it only when one is typed.

import { api } from '../api.js';
import { alertBox, h, heading, loading, replace, toast } from '../dom.js';
import { fieldOf, validationSentence } from '../errors.js';
import { removeCamera } from './cameras.js';

export const title = 'Camera';

const LIMITS = {
  process_fps: { min: 0.1, max: 30, step: 'any', whole: false },
  detection_width: { min: 160, max: 3840, step: 1, whole: true },
  min_face_size: { min: 0, max: 2000, step: 1, whole: true },
};

function makeField(name, labelText, input, help, onFixed) {
  const id = `f-${name}`;
  input.id = id;
  input.name = name;
  const error = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  const helpEl = help ? h('p', { class: 'hint', id: `${id}-help` }, help) : null;
  input.setAttribute('aria-describedby', [helpEl && helpEl.id, error.id].filter(Boolean).join(' '));
  input.addEventListener('input', () => { // a corrected field stops shouting
    error.hidden = true;
    input.removeAttribute('aria-invalid');
    if (onFixed) onFixed();
  });
  const isCheck = input.type === 'checkbox';
  const wrapper = isCheck
    ? h('div', { class: 'field check' }, input, h('label', { for: id }, labelText), helpEl, error)
    : h('div', { class: 'field' }, h('label', { for: id }, labelText), input, helpEl, error);
  return { wrapper, input, error, label: labelText };
}

/** Messages for what the API would refuse, keyed by field (creating: `url` is required). */
export function check(values, creating) {
  const errors = {};
  if (!values.name.trim()) errors.name = 'Give the camera a name.';
  else if (values.name.length > 200) errors.name = 'The name can have at most 200 characters.';
  if (creating && !values.url.trim()) {
    errors.url = 'Enter where the video comes from, e.g. rtsp://user:password@192.0.2.10:554/stream1.';
  } else if (values.url.length > 2000) errors.url = 'The address can have at most 2000 characters.';
  for (const [name, limit] of Object.entries(LIMITS)) {
    const raw = values[name];
    const n = Number(raw);
    if (raw === '' || Number.isNaN(n)) errors[name] = 'Enter a number.';
    else if (n < limit.min || n > limit.max) errors[name] = `Enter a number from ${limit.min} to ${limit.max}.`;
    else if (limit.whole && !Number.isInteger(n)) errors[name] = 'Enter a whole number.';
  }
  return errors;
}

export function render(main, { params }) {
  const id = params[0] ? Number(params[0]) : null;
  const box = h('div', {}, loading());
  main.append(heading(id ? 'Edit camera' : 'Add a camera'), box);
  let stopped = false;
  (async () => {
    try {
      const [camera, workers] = await Promise.all([
        id ? api(`/api/cameras/${id}`) : null,
        api('/api/workers').catch(() => []),
      ]);
      if (!stopped) replace(box, form(camera, workers));
    } catch (err) {
      if (!stopped) replace(box, alertBox(err.message), h('p', {}, h('a', { href: '#/cameras' }, 'Back to cameras')));
    }
  })();
  return () => { stopped = true; };
}

function form(camera, workers) {
  const creating = !camera;
  const c = camera || { name: '', enabled: true, process_fps: 5, detection_width: 640, min_face_size: 40, loop: false,
    pinned_worker: null };
  const summary = h('div', { 'aria-live': 'assertive' });
  const fixed = () => { // the summary goes once every field it named is corrected
    if (Object.values(fields).every((f) => f.error.hidden) && summary.dataset.fields === 'only') replace(summary);
  };
  const field = (name, labelText, input, help) => makeField(name, labelText, input, help, fixed);
  const fields = {
    name: field('name', 'Name', h('input', { type: 'text', value: c.name, maxlength: 200, autocomplete: 'off' })),
    url: field('url', creating ? 'Address' : 'New address (leave empty to keep the current one)',
      h('input', { type: 'text', value: '', autocomplete: 'off', spellcheck: 'false',
        placeholder: creating ? 'rtsp://user:password@192.0.2.10:554/stream1' : '' }),
      creating
        ? 'rtsp://…, an http(s):// MJPEG stream, a video file path on the worker, /dev/video0 or a device number. '
          + 'Passwords are stored but never shown again.'
        : `Current: ${c.url} (passwords are never shown).`),
    enabled: field('enabled', 'Enabled: run this camera now', h('input', { type: 'checkbox', checked: c.enabled })),
    loop: field('loop', 'Replay a video file when it ends', h('input', { type: 'checkbox', checked: c.loop })),
    process_fps: field('process_fps', 'Frames analysed per second',
      h('input', { type: 'number', value: c.process_fps, inputmode: 'decimal', step: 'any' }),
      'From 0.1 to 30. More finds faces sooner and uses more of the worker.'),
    detection_width: field('detection_width', 'Detection width (px)',
      h('input', { type: 'number', value: c.detection_width, inputmode: 'numeric' }),
      'Faces are looked for in frames shrunk to this width (never enlarged): 160 to 3840. Wider finds '
        + 'smaller faces (down to about 40 px at this width) and takes longer per frame.'),
    min_face_size: field('min_face_size', 'Smallest face (px)',
      h('input', { type: 'number', value: c.min_face_size, inputmode: 'numeric' }),
      'Faces smaller than this are followed but not identified: 0 to 2000.'),
    pinned_worker: field('pinned_worker', 'Run on', h('select', { value: c.pinned_worker || '' },
      h('option', { value: '' }, 'Any worker with room'),
      [...new Set([...workers.map((w) => w.id), c.pinned_worker].filter(Boolean))]
        .map((w) => h('option', { value: w }, `Only ${w}`)))),
  };
  const save = h('button', { type: 'submit', class: 'primary' }, creating ? 'Add camera' : 'Save changes');
  const el = h('form', { class: 'stack form-narrow', novalidate: true },
    summary,
    fields.name.wrapper, fields.url.wrapper, fields.enabled.wrapper,
    h('fieldset', {}, h('legend', {}, 'Processing'),
      fields.process_fps.wrapper, fields.detection_width.wrapper, fields.min_face_size.wrapper,
      fields.loop.wrapper, fields.pinned_worker.wrapper),
    h('div', { class: 'actions' }, save, h('a', { class: 'button', href: '#/cameras' }, 'Cancel'),
      creating ? null : h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (await removeCamera(camera)) location.hash = '#/cameras';
      } }, 'Delete camera')));

  /** `errors` by field; `named`: the messages already name their field (the API's do). */
  function showErrors(errors, general = [], named = false) {
    for (const [name, f] of Object.entries(fields)) {
      const message = errors[name];
      f.error.hidden = !message;
      f.error.textContent = message || '';
      if (message) f.input.setAttribute('aria-invalid', 'true');
      else f.input.removeAttribute('aria-invalid');
    }
    const all = [...general, ...Object.entries(errors).map(([n, m]) => (named ? m : `${fields[n].label}: ${m}`))];
    summary.dataset.fields = general.length ? 'general' : 'only';
    replace(summary, all.length ? alertBox(all.length === 1 ? all[0]
      : `Please fix ${all.length} things. ${all.join(' ')}`) : null);
    const first = Object.keys(fields).find((n) => errors[n]);
    if (first) fields[first].input.focus();
  }

  el.addEventListener('submit', async (e) => {
    e.preventDefault();
    const values = Object.fromEntries(Object.entries(fields).map(([n, f]) => [n,
      f.input.type === 'checkbox' ? f.input.checked : f.input.value]));
    const errors = check(values, creating);
    if (Object.keys(errors).length) {
      showErrors(errors);
      return;
    }
    const body = {
      name: values.name.trim(),
      enabled: values.enabled,
      loop: values.loop,
      process_fps: Number(values.process_fps),
      detection_width: Number(values.detection_width),
      min_face_size: Number(values.min_face_size),
      pinned_worker: values.pinned_worker || null,
    };
    if (values.url.trim()) body.url = values.url.trim();
    save.disabled = true;
    try {
      const saved = await api(creating ? '/api/cameras' : `/api/cameras/${camera.id}`,
        { method: creating ? 'POST' : 'PATCH', json: body });
      toast(creating ? `Camera “${saved.name}” added.` : `Camera “${saved.name}” saved.`);
      location.hash = '#/cameras';
    } catch (err) {
      const detail = err.body && Array.isArray(err.body.detail) ? err.body.detail : null;
      if (detail) {
        const byField = {};
        const general = [];
        for (const item of detail) {
          const name = fieldOf(item);
          if (name && fields[name] && !byField[name]) byField[name] = validationSentence(item);
          else general.push(validationSentence(item));
        }
        showErrors(byField, general, true);
      } else {
        showErrors({}, [err.message]);
      }
    } finally {
      save.disabled = false;
    }
  });
  return el;
}
