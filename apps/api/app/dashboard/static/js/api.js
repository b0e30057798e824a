// The dashboard's only door to the server: the public REST API, authenticated by the session
// cookie. Requests that change something carry the CSRF header the API asks cookie clients for.

import { describe } from './errors.js';

const CSRF_HEADER = 'X-FaceGrid-CSRF';

class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

function signedOut() {
  location.assign('/login?ended=1');
  return new ApiError(401, 'Your session has ended; sign in again.');
}

async function send(path, { method = 'GET', json, form, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers[CSRF_HEADER] = '1';
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  try {
    return await fetch(path, { method, headers, body, signal, credentials: 'same-origin' });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'Cannot reach the FaceGrid server. Check that it is running and try again.');
  }
}

async function failure(response) {
  if (response.status === 401) return signedOut();
  const body = await response.json().catch(() => null);
  return new ApiError(response.status, describe(response.status, body), body);
}

/** JSON in, JSON out; throws ApiError with a human message. 204 gives null. */
export async function api(path, options) {
  const response = await send(path, options);
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return null;
  return response.json();
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}
