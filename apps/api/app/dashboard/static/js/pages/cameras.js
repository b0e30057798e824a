// Cameras: a grid of live views (the API's MJPEG relay, boxes and names drawn by the worker),
// with their state, and enable / disable / edit / delete.

import { api } from '../api.js';
import { alertBox, badge, empty, h, heading, loading, replace, toast } from '../dom.js';
import { fps } from '../format.js';

export const title = 'Cameras';
const POLL_MS = 4000;
const MAX_LIVE = 4;
/** Browsers keep about 6 connections per server; each live view holds one open. */

/** Camera states that need a person's attention. */
export const PROBLEM_STATES = new Set(['error', 'reconnecting', 'failed']);

export function stateBadge(state) {
  return badge(state, state === 'streaming' ? 'ok' : PROBLEM_STATES.has(state) ? 'error' : 'off');
}

export async function removeCamera(camera) {
  if (!confirm(`Delete camera “${camera.name}” and all its events? This cannot be undone.`)) return false;
  try {
    await api(`/api/cameras/${camera.id}`, { method: 'DELETE' });
    toast(`Camera “${camera.name}” deleted.`);
    return true;
  } catch (err) {
    toast(err.message, 'error');
    return false;
  }
}

/** One camera's card; `update(camera)` refreshes it in place so a running live view is not restarted. */
class CameraCard {
  constructor(camera, grid) {
    this.grid = grid;
    this.view = h('div', { class: 'live' });
    this.state = h('span');
    this.facts = h('p', { class: 'muted small' });
    this.toggle = h('button', { type: 'button', onclick: () => this.setEnabled(!this.camera.enabled) });
    this.title = h('h2', {});
    this.el = h('article', { class: 'camera-card', 'data-camera': camera.id },
      this.view,
      h('div', { class: 'camera-body' },
        h('div', { class: 'row' }, this.title, this.state),
        this.facts,
        h('div', { class: 'actions' },
          h('a', { class: 'button', href: `#/cameras/${camera.id}` }, 'Edit'),
          this.toggle,
          h('button', { type: 'button', class: 'danger', onclick: () => this.remove() }, 'Delete'))));
    this.img = null;
    this.update(camera);
  }

  get running() {
    return Boolean(this.camera.status.worker_id) && this.camera.status.state === 'streaming';
  }

  update(camera) {
    this.camera = camera;
    const s = camera.status;
    replace(this.title, camera.name);
    replace(this.state, stateBadge(s.state));
    const cost = s.detect_ms ? ` · ${fps(s.scan_fps)} full scans of ${Math.round(s.detect_ms)} ms` : '';
    replace(this.facts, s.worker_id
      ? `${fps(s.processed_fps)} analysed of ${fps(s.input_fps)}${cost} · on ${s.worker_id}`
      : camera.enabled ? 'Waiting for a worker' : 'Disabled',
    s.reason ? h('span', { class: 'reason' }, ` · ${s.reason}`) : null);
    replace(this.toggle, camera.enabled ? 'Disable' : 'Enable');
    if (!camera.status.worker_id) this.stopLive();
    if (!this.img) this.showIdle();
  }

  showIdle(force = false) {
    const s = this.camera.status;
    const text = this.running ? 'Live view paused (too many at once).'
      : !this.camera.enabled ? 'Disabled' : s.worker_id ? `Camera ${s.state}` : 'Not running';
    if (text === this.idleText && !force) return; // keep focus on an unchanged button
    this.idleText = text;
    replace(this.view, h('div', { class: 'placeholder' }, h('p', {}, text),
      this.running ? h('button', { type: 'button', onclick: () => this.grid.watch(this) }, 'Watch live') : null));
  }

  startLive() {
    if (this.img) return;
    // A fresh URL each start: a new connection rather than a cached, ended stream.
    const img = h('img', {
      src: `/api/cameras/${this.camera.id}/stream.mjpeg?view=${Date.now()}`,
      alt: `Live view of ${this.camera.name}`, class: 'live-img',
    });
    img.addEventListener('error', () => {
      if (img !== this.img) return;
      this.stopLive();
      this.idleText = 'stopped';
      replace(this.view, h('div', { class: 'placeholder' }, h('p', {}, 'The live view stopped; retrying soon.')));
    });
    this.img = img;
    this.idleText = null;
    replace(this.view, img);
  }

  stopLive() {
    if (!this.img) return;
    const img = this.img;
    this.img = null;
    img.src = ''; // ends the MJPEG connection: the worker stops rendering frames nobody watches
    img.remove();
    this.showIdle(true);
  }

  async setEnabled(enabled) {
    try {
      const camera = await api(`/api/cameras/${this.camera.id}`, { method: 'PATCH', json: { enabled } });
      toast(`Camera “${camera.name}” ${enabled ? 'enabled' : 'disabled'}.`);
      this.update(camera);
      this.grid.refresh();
    } catch (err) {
      toast(err.message, 'error');
    }
  }

  async remove() {
    if (await removeCamera(this.camera)) this.grid.refresh();
  }
}

class CameraGrid {
  constructor(box) {
    this.box = box;
    this.cards = new Map();
    this.live = []; // cards with a live view, oldest first
    this.timer = null;
    this.stopped = false;
  }

  async refresh() {
    clearTimeout(this.timer);
    try {
      const cameras = await api('/api/cameras');
      if (this.stopped) return;
      this.draw(cameras);
    } catch (err) {
      if (!this.stopped) replace(this.box, alertBox(err.message));
    }
    if (!this.stopped) this.timer = setTimeout(() => this.refresh(), POLL_MS);
  }

  draw(cameras) {
    if (!cameras.length) {
      this.stopAll();
      replace(this.box, empty('No cameras yet. Add an RTSP camera, an MJPEG URL, a video file or a webcam.',
        h('a', { class: 'button primary', href: '#/cameras/new' }, 'Add a camera')));
      return;
    }
    const seen = new Set();
    const grid = this.box.querySelector('.camera-grid') || h('div', { class: 'camera-grid' });
    for (const camera of cameras) {
      seen.add(camera.id);
      let card = this.cards.get(camera.id);
      if (card) card.update(camera);
      else {
        card = new CameraCard(camera, this);
        this.cards.set(camera.id, card);
      }
      grid.append(card.el);
    }
    for (const [id, card] of this.cards) {
      if (!seen.has(id)) {
        card.stopLive();
        card.el.remove();
        this.cards.delete(id);
      }
    }
    this.live = this.live.filter((c) => c.img && this.cards.has(c.camera.id));
    for (const card of this.cards.values()) {
      if (card.running && !card.img && this.live.length < MAX_LIVE) this.watch(card);
    }
    if (!grid.isConnected) replace(this.box, grid);
  }

  watch(card) {
    if (this.live.length >= MAX_LIVE) this.live.shift().stopLive();
    card.startLive();
    this.live.push(card);
  }

  stopAll() {
    for (const card of this.cards.values()) card.stopLive();
    this.live = [];
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stopAll();
  }
}

export function render(main) {
  const box = h('div', {}, loading());
  main.append(
    h('div', { class: 'page-head' }, heading('Cameras'),
      h('a', { class: 'button primary', href: '#/cameras/new' }, 'Add camera')),
    h('p', { class: 'muted' }, `Live views show boxes and names as the worker sees them. At most ${MAX_LIVE} `
      + 'play at once.'),
    box);
  const grid = new CameraGrid(box);
  grid.refresh();
  return () => grid.stop();
}
