// An image with face boxes drawn over it. The boxes are in the pixels of the analysed frame;
// an SVG with that frame's size as its viewBox, laid exactly over the image, scales them to
// whatever size the image is shown at.

import { h } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/**
 * Draw `faces` ([{box: {x, y, width, height}, label, known}]) over `img`, whose picture shows a
 * frame `width` x `height` pixels large. Returns the wrapper to put in the page.
 */
export function boxedImage(img, width, height, faces) {
  const wrapper = h('div', { class: 'boxed' }, img);
  const overlay = svg('svg', {
    viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', 'aria-hidden': 'true', class: 'overlay',
  });
  const font = Math.max(12, Math.round(width / 45));
  for (const face of faces) {
    const { x, y, width: w, height: bh } = face.box;
    const kind = face.known ? 'known' : 'unknown';
    overlay.append(svg('rect', {
      x, y, width: w, height: bh, class: `face ${kind}`, 'vector-effect': 'non-scaling-stroke',
    }));
    if (face.label) {
      const top = y - font * 1.4 >= 0 ? y - font * 1.4 : y + bh;
      const tagWidth = font * 0.62 * face.label.length + font * 0.8;
      const left = Math.max(0, Math.min(x, width - tagWidth)); // keep the name inside the picture
      const tag = svg('rect', { x: left, y: top, width: tagWidth, height: font * 1.4, class: `tag ${kind}` });
      const text = svg('text', { x: left + font * 0.4, y: top + font * 1.05, 'font-size': font, class: 'tag-text' });
      text.textContent = face.label;
      overlay.append(tag, text);
    }
  }
  wrapper.append(overlay);
  return wrapper;
}

/** Resolves once `img` has loaded (or rejects if it fails). */
export function loaded(img) {
  if (img.complete && img.naturalWidth) return Promise.resolve(img);
  return new Promise((resolve, reject) => {
    img.addEventListener('load', () => resolve(img), { once: true });
    img.addEventListener('error', () => reject(new Error('image failed to load')), { once: true });
  });
}
