// Building and updating DOM nodes without a framework; text always goes in as text, never as HTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [key, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (key.startsWith('on') && typeof v === 'function') el.addEventListener(key.slice(2), v);
    else if (key === 'class') el.className = v;
    else if (key === 'value') value = v;
    else el.setAttribute(key, v === true ? '' : String(v));
  }
  append(el, children);
  if (value !== undefined) el.value = value; // after the options of a <select> exist
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/**
 * Replace `el`'s children, keeping keyboard focus on the control with the same `data-key` if the
 * focus was inside: a page that refreshes every few seconds must not pull focus away.
 */
export function replaceKeepingFocus(el, ...children) {
  const focused = el.contains(document.activeElement) ? document.activeElement.dataset.key : undefined;
  replace(el, ...children);
  if (focused) {
    const again = [...el.querySelectorAll('[data-key]')].find((c) => c.dataset.key === focused);
    if (again) again.focus();
  }
  return el;
}

export function heading(text) {
  return h('h1', { tabindex: '-1' }, text);
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, text);
}

export function empty(text, ...extra) {
  return h('div', { class: 'empty' }, h('p', {}, text), ...extra);
}

export function alertBox(message, kind = 'error') {
  return h('p', { class: `alert ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
}

export function badge(text, kind) {
  return h('span', { class: `badge ${kind}` }, text);
}

export function toast(message, kind = 'ok') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const item = h('p', { class: `toast ${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000);
}

/** A zone that takes dropped files, and a button to choose them, calling `onFiles(File[])`. */
export function dropZone({ label, hint, multiple, onFiles }) {
  const input = h('input', {
    type: 'file', accept: 'image/*', multiple, class: 'visually-hidden', tabindex: '-1', 'aria-hidden': 'true',
  });
  const button = h('button', { type: 'button', class: 'primary' }, label);
  const zone = h('div', { class: 'dropzone' }, button, h('p', { class: 'hint' }, hint), input);
  button.addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    const files = [...input.files];
    input.value = '';
    if (files.length) onFiles(files);
  });
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const files = [...e.dataTransfer.files].filter((f) => f.type.startsWith('image/') || !f.type);
    if (files.length) onFiles(multiple ? files : files.slice(0, 1));
  });
  return zone;
}
