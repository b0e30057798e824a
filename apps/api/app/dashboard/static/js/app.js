// The dashboard shell: hash routes (#/page/...) -> page modules. Each page renders into <main>
// and returns a function that stops what it started (polling, live streams, the events feed).

import { alertBox, replace, toast } from './dom.js';
import * as cameraForm from './pages/camera_form.js';
import * as cameras from './pages/cameras.js';
import * as eventDetail from './pages/event_detail.js';
import * as events from './pages/events.js';
import * as overview from './pages/overview.js';
import * as person from './pages/person.js';
import * as people from './pages/people.js';
import * as tryPhoto from './pages/try_photo.js';
import * as unknown from './pages/unknown.js';

const ROUTES = [
  [/^\/overview$/, overview, 'overview'],
  [/^\/cameras$/, cameras, 'cameras'],
  [/^\/cameras\/new$/, cameraForm, 'cameras'],
  [/^\/cameras\/(\d+)$/, cameraForm, 'cameras'],
  [/^\/people$/, people, 'people'],
  [/^\/people\/(\d+)$/, person, 'people'],
  [/^\/events$/, events, 'events'],
  [/^\/events\/(\d+)$/, eventDetail, 'events'],
  [/^\/unknown$/, unknown, 'unknown'],
  [/^\/try$/, tryPhoto, 'try'],
];

const main = document.getElementById('main');
let stop = null;
let rendered = false;

function route() {
  const hash = location.hash;
  if (!hash || hash === '#' || hash === '#/') {
    location.replace('#/overview');
    return;
  }
  if (!hash.startsWith('#/')) {
    if (!rendered) location.replace('#/overview'); // opened with a stray #anchor
    return;
  }
  const [path, search] = hash.slice(1).split('?');
  const found = ROUTES.map(([re, page, nav]) => [path.match(re), page, nav]).find(([m]) => m);
  if (stop) stop();
  stop = null;
  window.scrollTo(0, 0);
  if (!found) {
    replace(main, alertBox('There is no such page.'));
    return;
  }
  const [match, page, nav] = found;
  for (const link of document.querySelectorAll('nav a')) {
    if (link.getAttribute('href') === `#/${nav}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  main.replaceChildren();
  rendered = true;
  document.title = `${page.title} · FaceGrid`;
  stop = page.render(main, { params: match.slice(1), query: new URLSearchParams(search || '') }) || null;
  const h1 = main.querySelector('h1');
  if (h1 && document.activeElement !== document.body) h1.focus({ preventScroll: true });
}

window.addEventListener('hashchange', route);
document.querySelector('.skip-link').addEventListener('click', (e) => {
  e.preventDefault(); // the hash is the page's address: move focus instead
  main.focus();
});
window.addEventListener('unhandledrejection', (e) => {
  if (e.reason && e.reason.name === 'AbortError') return;
  toast(e.reason && e.reason.message ? e.reason.message : 'Something went wrong.', 'error');
});
route();
