// The live events feed (Server-Sent Events at /api/events/stream), shared by every page that
// listens: one connection, opened with the first listener and closed with the last.

import { api } from './api.js';

const RETRY_MS = 5000;
const listeners = new Set();
const statusListeners = new Set();
let source = null;
let retry = null;
let status = 'closed';

function setStatus(next) {
  status = next;
  statusListeners.forEach((fn) => fn(status));
}

function open() {
  clearTimeout(retry);
  retry = null;
  const es = new EventSource('/api/events/stream');
  source = es;
  setStatus('connecting');
  es.onopen = () => setStatus('live');
  const deliver = (message) => {
    const notice = JSON.parse(message.data);
    listeners.forEach((fn) => fn(notice));
  };
  es.addEventListener('created', deliver);
  es.addEventListener('updated', deliver);
  es.onerror = () => {
    if (es.readyState === EventSource.CONNECTING) {
      setStatus('connecting'); // the browser reconnects by itself
      return;
    }
    // Refused (e.g. the session ended): a cheap request tells, and sends us to sign-in if so.
    es.close();
    if (source === es) source = null;
    setStatus('connecting');
    api('/api/workers').catch(() => {});
    retry = setTimeout(() => { if (listeners.size) open(); }, RETRY_MS);
  };
}

function close() {
  clearTimeout(retry);
  retry = null;
  if (source) source.close();
  source = null;
  setStatus('closed');
}

/** Call `fn(notice)` for each event created or updated; returns the function that stops it. */
export function subscribe(fn) {
  listeners.add(fn);
  if (!source && retry === null) open();
  return () => {
    listeners.delete(fn);
    if (!listeners.size) close();
  };
}

/** Call `fn(status)` ('connecting', 'live', 'closed') now and on each change. */
export function onStatus(fn) {
  statusListeners.add(fn);
  fn(status);
  return () => statusListeners.delete(fn);
}
