// API errors as sentences a person understands. The API answers {"detail": "..."}, or for
// validation errors (422) {"detail": [{"type", "loc", "msg", "ctx"}, ...]}.

const FIELDS = {
  name: 'Name',
  url: 'Address',
  enabled: 'Enabled',
  process_fps: 'Frames analysed per second',
  detection_width: 'Detection width',
  min_face_size: 'Smallest face',
  loop: 'Replay',
  pinned_worker: 'Worker',
  external_id: 'Your own id',
  metadata: 'Extra data',
  files: 'Photos',
  file: 'Photo',
  threshold: 'Threshold',
  top_k: 'Number of candidates',
  camera_id: 'Camera',
  person_id: 'Person',
  since: 'From',
  until: 'To',
  limit: 'Page size',
};

const LOCATIONS = new Set(['body', 'query', 'path', 'form', 'header']);

export function fieldOf(item) {
  const parts = (item.loc || []).filter((p) => !LOCATIONS.has(p));
  const last = parts.filter((p) => typeof p === 'string').pop();
  return last || null;
}

function label(field) {
  if (!field) return 'A value';
  return FIELDS[field] || capitalize(field.replaceAll('_', ' '));
}

/** One validation error as a sentence, e.g. "Frames analysed per second must be 30 or less." */
export function validationSentence(item) {
  const f = label(fieldOf(item));
  const c = item.ctx || {};
  switch (item.type) {
    case 'missing': return `${f} is required.`;
    case 'string_too_short':
      return c.min_length === 1 ? `${f} cannot be empty.` : `${f} needs at least ${c.min_length} characters.`;
    case 'string_too_long': return `${f} can have at most ${c.max_length} characters.`;
    case 'greater_than': return `${f} must be more than ${c.gt}.`;
    case 'greater_than_equal': return `${f} must be ${c.ge} or more.`;
    case 'less_than': return `${f} must be less than ${c.lt}.`;
    case 'less_than_equal': return `${f} must be ${c.le} or less.`;
    case 'int_parsing': case 'int_from_float': case 'int_type': return `${f} must be a whole number.`;
    case 'float_parsing': case 'float_type': return `${f} must be a number.`;
    case 'bool_parsing': case 'bool_type': return `${f} must be yes or no.`;
    case 'datetime_parsing': case 'datetime_from_date_parsing': return `${f} must be a date and time.`;
    case 'json_invalid': return 'The form could not be sent (the data was not valid JSON).';
    case 'camera_url': return sentence(item.msg); // the API's own sentence, about the address
    default: return `${f}: ${sentence(item.msg || 'is not valid')}`;
  }
}

const BY_STATUS = {
  403: 'You are not allowed to do that.',
  404: 'It was not found; it may have been deleted meanwhile.',
  409: 'That conflicts with something that already exists.',
  413: 'The file is too large for this server.',
  415: 'That file is not an image FaceGrid can read (JPEG, PNG, WebP, BMP or TIFF).',
  429: 'Too many requests; wait a moment and try again.',
  503: 'No worker is available right now, so nothing can be analysed. Start a worker (or wait for one to '
    + 'reconnect) and try again.',
  504: 'The worker did not answer in time. Try again; a large photo takes longer.',
};

/** The message for a failed request: the API's own words as a sentence, with context for some statuses. */
export function describe(status, body) {
  const detail = body && body.detail;
  if (Array.isArray(detail) && detail.length) return detail.map(validationSentence).join(' ');
  const said = typeof detail === 'string' && detail ? sentence(detail) : '';
  if (status === 503) return said ? `${BY_STATUS[503]} (${said.replace(/\.$/, '')}.)` : BY_STATUS[503];
  if (said) return said;
  if (BY_STATUS[status]) return BY_STATUS[status];
  if (status >= 500) return `The server ran into a problem (error ${status}). Try again; if it keeps `
    + 'happening, the API log says why.';
  return `The request failed (error ${status}).`;
}

export function sentence(text) {
  const s = capitalize(String(text).trim());
  return /[.!?)]$/.test(s) ? s : `${s}.`;
}

function capitalize(s) {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}
