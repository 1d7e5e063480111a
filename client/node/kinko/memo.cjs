'use strict';
// The client's memory of kinko's answers: the Go client's (client/internal/memo), whose comments
// say why. Times are [monotonic ms, wall ms]: an answer's age is the older of the two readings.

// A ttl longer than this is no real freshness lifetime: such an answer is not kept.
const MAX_TTL = 2 ** 31;

class Memo {
  constructor(size) {
    this.size = size;
    this.items = new Map(); // key -> {sent, keep (ms), value}; value undefined: dropped. Oldest first.
  }

  // {value, left ms}, left capped by maxAgeMs from when the request was sent; or undefined.
  get(key, now, maxAgeMs) {
    const e = this.items.get(key);
    if (e === undefined || e.value === undefined) return undefined;
    const age = ageOf(e, now);
    const left = age < 0 ? 0 : e.keep - age;
    if (left <= 0) {
      this.items.delete(key);
      return undefined;
    }
    const allowed = maxAgeMs === undefined ? left : Math.min(left, maxAgeMs - age);
    if (allowed <= 0) return undefined; // fresh, but older than this caller accepts
    this.items.delete(key); // most recently used last
    this.items.set(key, e);
    return { value: e.value, left: allowed };
  }

  // An answer without a fresh ttl replaces what was kept with nothing; one to a request older than
  // what is kept (a refresh overtook it) changes nothing.
  put(key, sent, statusLines, value) {
    const keep = keepFor(statusLines);
    const e = this.items.get(key);
    if (e !== undefined) {
      if (sent[0] < e.sent[0]) return;
      this.items.delete(key);
      if (keep <= 0) return;
      this.insert(key, { sent, keep, value });
      return;
    }
    if (keep > 0) this.insert(key, { sent, keep, value });
  }

  // Forget what is kept for key as of now: no answer to an earlier request may replace it.
  drop(key, now) {
    this.items.delete(key);
    this.insert(key, { sent: now, keep: 0, value: undefined });
  }

  clear() {
    this.items.clear();
  }

  insert(key, entry) {
    this.items.set(key, entry);
    while (this.items.size > this.size) {
      this.items.delete(this.items.keys().next().value);
    }
  }
}

function ageOf(e, now) {
  return Math.max(now[0] - e.sent[0], now[1] - e.sent[1]);
}

// keepFor is the ms an answer with these Cache-Status lines may be kept: half the ttl of the list's
// last member (RFC 9211), 0 for none, a stale member or anything malformed.
function keepFor(lines) {
  if (!lines || lines.length === 0) return 0;
  let member = lastMember(lines.join(','));
  if (member === null) return 0;
  let ttl = -1;
  while (member.length > 0) {
    const p = nextParam(member);
    if (p === null) return 0;
    const [name, value, rest] = p;
    member = rest;
    if (name === 'ttl') {
      const n = sfInteger(value);
      if (n === null) return 0;
      ttl = n;
    } else if (name === 'detail' && unquote(value).includes('stale')) {
      return 0;
    }
  }
  if (ttl <= 0 || ttl > MAX_TTL) return 0;
  return ttl * 500;
}

// The parameters of the field's last list member (from its first ';'), or null.
function lastMember(field) {
  let start = 0;
  let inQuote = false;
  for (let i = 0; i < field.length; i++) {
    const c = field[i];
    if (inQuote && c === '\\') i++;
    else if (c === '"') inQuote = !inQuote;
    else if (!inQuote && c === ',') start = i + 1;
  }
  if (inQuote) return null;
  const m = field.slice(start).replace(/^[ \t]+|[ \t]+$/g, '');
  if (m === '') return null;
  if (m[0] === '"') {
    const end = quotedEnd(m);
    return end < 0 ? null : m.slice(end);
  }
  let i = m.indexOf(';');
  if (i < 0) i = m.length;
  return isToken(m.slice(0, i)) ? m.slice(i) : null;
}

// Reads ";key[=value]" from the front of s: [name, value, rest], or null.
function nextParam(s) {
  if (s[0] !== ';') return null;
  s = s.slice(1).replace(/^ +/, '');
  let i = 0;
  while (i < s.length && s[i] !== '=' && s[i] !== ';') i++;
  const name = s.slice(0, i);
  if (!isKey(name)) return null;
  if (i === s.length || s[i] === ';') return [name, '?1', s.slice(i)]; // a bare key is boolean true
  s = s.slice(i + 1);
  let value;
  let rest;
  if (s[0] === '"') {
    const end = quotedEnd(s);
    if (end < 0) return null;
    value = s.slice(0, end);
    rest = s.slice(end);
  } else {
    let j = s.indexOf(';');
    if (j < 0) j = s.length;
    value = s.slice(0, j).replace(/ +$/, '');
    rest = s.slice(j);
  }
  if (value === '') return null;
  return [name, value, rest.replace(/ +$/, '')];
}

function quotedEnd(s) {
  for (let i = 1; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === '"') return i + 1;
  }
  return -1;
}

function unquote(v) {
  return v.length >= 2 && v[0] === '"' ? v.slice(1, -1).replaceAll('\\', '') : v;
}

// A Structured Fields integer: an optional '-' and 1 to 15 digits.
function sfInteger(v) {
  return /^-?[0-9]{1,15}$/.test(v) ? Number(v) : null;
}

const isKey = (s) => /^[a-z*][a-z0-9_\-.*]*$/.test(s);
const isToken = (s) => /^[A-Za-z*][!#$%&'*+\-.^_`|~:/0-9A-Za-z]*$/.test(s);

module.exports = { Memo, keepFor };
