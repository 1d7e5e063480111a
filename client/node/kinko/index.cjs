'use strict';
// kinko's Node.js client (types and API docs: index.d.ts): secrets and parameters through the kinko
// Lambda extension, or AWS's Parameters and Secrets extension, without an AWS SDK. An answer is kept
// for at most half of kinko's Cache-Status ttl from when its request was sent, so a rotated secret
// still arrives within kinko's TTL; never a stale or ttl-less one.
//
// node:http, not fetch: fetch follows NODE_USE_ENV_PROXY with no way out short of undici's own
// Agent, and its first call loads undici (tens of ms of a cold start). Requests go to 127.0.0.1,
// then [::1], through an Agent with proxyEnv: null, and never follow a redirect: the session token
// goes to the extension's loopback address only.
const http = require('node:http');
const { Memo, keepFor } = require('./memo.cjs');

const DEFAULT_PORT = 2773;
const DEFAULT_TIMEOUT_MS = 5000; // a whole call, retries included
const DEFAULT_CACHE_SIZE = 64;
const TOKEN_HEADER = 'X-Aws-Parameters-Secrets-Token';
// IPv4 first, then IPv6: never "localhost", which Node resolves to ::1 first.
const DEFAULT_HOSTS = Object.freeze(['127.0.0.1', '::1']);

const ATTEMPTS = 5; // connections refused: the extension may still be binding its port
const FIRST_DELAY_MS = 10;
const MAX_DELAY_MS = 200;
const MAX_BODY = 1 << 20; // a secret is at most 64 KiB, 88 KiB once base64-encoded
const MAX_MESSAGE = 300;
// Errors of a host that is not there at all (no IPv6 loopback in the sandbox): try the next.
const NEXT_HOST = new Set(['ECONNREFUSED', 'EADDRNOTAVAIL', 'EAFNOSUPPORT', 'ENETUNREACH', 'EHOSTUNREACH']);

// A failed read: status and code are kinko's; the message never holds a secret value.
class KinkoError extends Error {
  constructor(message, { status, code, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'KinkoError';
    this.status = status;
    this.code = code;
  }
}

class KinkoUnreachableError extends KinkoError {
  constructor(message, options) {
    super(message, options);
    this.name = 'KinkoUnreachableError';
  }
}

class KinkoTimeoutError extends KinkoError {
  constructor(message, options) {
    super(message, options);
    this.name = 'KinkoTimeoutError';
  }
}

const monotonicAndWall = () => [performance.now(), Date.now()];

class KinkoClient {
  // The token is read at every request: SnapStart restores a sandbox with new credentials.
  constructor(options = {}) {
    const { port, token, timeout = DEFAULT_TIMEOUT_MS, cacheSize = DEFAULT_CACHE_SIZE, env = process.env,
      hosts = DEFAULT_HOSTS, clock = monotonicAndWall } = options;
    this.env = env;
    if (port === undefined) {
      const raw = env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT;
      if (raw) {
        if (!/^[0-9]{1,5}$/.test(raw) || Number(raw) < 1 || Number(raw) > 65535) {
          throw new RangeError(`kinko: PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=${JSON.stringify(raw)} is not a port number (1-65535)`);
        }
        this.port = Number(raw);
      } else {
        this.port = DEFAULT_PORT;
      }
    } else if (Number.isInteger(port) && port >= 1 && port <= 65535) {
      this.port = port;
    } else {
      throw new RangeError(`kinko: port ${JSON.stringify(port)} is not a port number (1-65535)`);
    }
    if (!(timeout > 0)) throw new RangeError(`kinko: timeout ${timeout} must be a positive number of milliseconds`);
    if (!(cacheSize >= 0)) throw new RangeError(`kinko: cacheSize ${cacheSize} is negative: pass 0 to turn the memory off`);
    if (!hosts || hosts.length === 0) throw new RangeError("kinko: hosts is empty: pass loopback addresses like ['127.0.0.1', '::1']");
    this.token = token;
    this.timeout = timeout;
    this.hosts = [...hosts];
    this.clock = clock;
    this.memo = cacheSize > 0 ? new Memo(cacheSize) : null;
    this.flights = new Map(); // concurrent misses of one request share one
    // No keep-alive (an answer is asked for about once per half ttl, and a sandbox thawed after a
    // freeze would find its kept sockets dead) and no proxy, whatever the environment says.
    this.agent = new http.Agent({ keepAlive: false, proxyEnv: null });
  }

  async getSecret(secretId, options = {}) {
    const { jsonKey } = options;
    if (jsonKey === undefined || jsonKey === null) {
      const { value } = await this.read('secret', secretId, options);
      if (typeof value.SecretString !== 'string') {
        throw new KinkoError(`kinko: secret ${JSON.stringify(secretId)} has no SecretString (a binary secret?): read it with getSecretValue(), whose SecretBinary holds the bytes`);
      }
      return value.SecretString;
    }
    if (typeof jsonKey !== 'string' || jsonKey === '') {
      throw new TypeError(`kinko: secret ${JSON.stringify(secretId)}: jsonKey must be the name of a top-level key`);
    }
    return (await this.read('secretKey', secretId, options)).value;
  }

  async getSecretValue(secretId, options = {}) {
    return copySecret((await this.read('secret', secretId, options)).value);
  }

  async getParameter(name, options = {}) {
    return (await this.read('parameter', name, options)).value.Parameter.Value;
  }

  async getParameterValue(name, options = {}) {
    const doc = (await this.read('parameter', name, options)).value;
    return { ...doc, Parameter: { ...doc.Parameter } };
  }

  clearCache() {
    if (this.memo) this.memo.clear();
  }

  // read answers one request: { value, left }, left the ms it may still be kept (capped by maxAge
  // seconds from when its request was sent): the Powertools providers cap their cache with it.
  async read(kind, id, options = {}) {
    const key = keyOf(kind, id, options); // the whole request, checked; the request itself only on a miss
    const refresh = options.refresh === true;
    const maxAgeMs = options.maxAge === undefined ? undefined : Math.max(0, Number(options.maxAge) * 1000);
    if (this.memo) {
      const now = this.clock();
      if (refresh) {
        this.memo.drop(key, now);
      } else {
        const hit = this.memo.get(key, now, maxAgeMs);
        if (hit) return hit;
      }
    }
    const req = request(kind, id, options, key, refresh);
    if (refresh || !this.memo) return this.fetchAnswer(req, maxAgeMs);
    let flight = this.flights.get(key);
    if (!flight) {
      flight = this.fetchAnswer(req, undefined).finally(() => this.flights.delete(key));
      this.flights.set(key, flight);
    }
    const answer = await flight;
    if (maxAgeMs === undefined) return answer;
    return { value: answer.value, left: Math.min(answer.left, maxAgeMs - (this.clock()[0] - answer.sent[0])) };
  }

  async fetchAnswer(req, maxAgeMs) {
    const sent = this.clock();
    const resp = await this.get(req.path, req.query, req.what);
    const value = req.decode(resp, req.what);
    const lines = resp.headerLines('cache-status');
    if (this.memo) this.memo.put(req.key, sent, lines, value);
    const elapsed = this.clock()[0] - sent[0];
    let left = Math.max(0, keepFor(lines) - elapsed);
    if (maxAgeMs !== undefined) left = Math.min(left, maxAgeMs - elapsed);
    return { value, left: Math.max(0, left), sent };
  }

  sessionToken() {
    return this.token || this.env.AWS_SESSION_TOKEN || this.env.AWS_CONTAINER_AUTHORIZATION_TOKEN || '';
  }

  // One logical GET: refused connections retried, all within the timeout; a 200 answer or a KinkoError.
  async get(path, query, what) {
    const token = this.sessionToken();
    if (!token) {
      throw new KinkoError(`kinko: ${what}: no session token: neither AWS_SESSION_TOKEN nor AWS_CONTAINER_AUTHORIZATION_TOKEN is set (Lambda sets one; set it yourself when running locally)`);
    }
    const target = `${path}?${query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`;
    const deadline = performance.now() + this.timeout;
    let delay = FIRST_DELAY_MS;
    for (let attempt = 1; ; attempt++) {
      let refused;
      for (const host of this.hosts) {
        try {
          const resp = await this.once(host, target, token, deadline, what);
          if (host !== this.hosts[0]) this.hosts = [host, ...this.hosts.filter((h) => h !== host)];
          return checked(resp, what, this.port);
        } catch (e) {
          if (!(e instanceof NextHost)) throw e;
          refused = refused || e.refused;
          if (!refused && host === this.hosts[this.hosts.length - 1]) {
            throw new KinkoError(`kinko: ${what}: connecting to port ${this.port}: ${e.cause.code}`, { cause: e.cause });
          }
        }
      }
      if (attempt >= ATTEMPTS || deadline - performance.now() <= delay) {
        throw new KinkoUnreachableError(`kinko: ${what}: extension unreachable: nothing accepts connections on port ${this.port} at ${this.hosts.join(' or ')}: is the kinko layer (or AWS's Parameters and Secrets layer) attached?`);
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(2 * delay, MAX_DELAY_MS);
    }
  }

  // One request to host; rejects with NextHost when the host took no connection.
  once(host, target, token, deadline, what) {
    return new Promise((resolve, reject) => {
      const left = deadline - performance.now();
      const timedOut = () => new KinkoTimeoutError(`kinko: ${what}: no complete answer from port ${this.port} within ${this.timeout} ms`);
      if (left <= 0) {
        reject(timedOut());
        return;
      }
      let connected = false;
      let settled = false;
      const settle = (fn, v) => {
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          fn(v);
        }
      };
      let req;
      try {
        req = http.request({
          host, port: this.port, path: target, method: 'GET', agent: this.agent,
          headers: { [TOKEN_HEADER]: token },
        });
      } catch (e) {
        // An invalid header value (a token with a line break) is refused before anything is sent.
        reject(new KinkoError(`kinko: ${what}: the request could not be made: ${e.code || e.name}`));
        return;
      }
      const timer = setTimeout(() => {
        settle(reject, timedOut());
        req.destroy();
      }, left);
      req.on('socket', (s) => s.once('connect', () => { connected = true; }));
      req.on('error', (e) => {
        if (!connected && NEXT_HOST.has(e.code)) settle(reject, new NextHost(e));
        else settle(reject, new KinkoError(`kinko: ${what}: request to port ${this.port} failed: ${e.code || e.message}`, { cause: e }));
      });
      req.on('response', (res) => {
        const chunks = [];
        let size = 0;
        res.on('data', (c) => {
          size += c.length;
          if (size > MAX_BODY) {
            settle(reject, new KinkoError(`kinko: ${what}: answer larger than ${MAX_BODY} bytes; is something else listening on port ${this.port}?`));
            req.destroy();
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => settle(resolve, new Response(res, Buffer.concat(chunks))));
        res.on('error', (e) => settle(reject, new KinkoError(`kinko: ${what}: reading the answer: ${e.code || e.message}`)));
      });
      req.end();
    });
  }
}

// The connection to one host failed before anything was sent.
class NextHost extends Error {
  constructor(cause) {
    super(cause.code);
    this.cause = cause;
    this.refused = cause.code === 'ECONNREFUSED';
  }
}

class Response {
  constructor(res, body) {
    this.status = res.statusCode;
    this.raw = res.rawHeaders;
    this.headers = res.headers;
    this.body = body;
  }

  header(name) {
    const v = this.headers[name];
    return Array.isArray(v) ? v.join(', ') : v || '';
  }

  headerLines(name) {
    const out = [];
    for (let i = 0; i + 1 < this.raw.length; i += 2) {
      if (this.raw[i].toLowerCase() === name) out.push(this.raw[i + 1]);
    }
    return out;
  }
}

function checked(resp, what, port) {
  if (resp.status >= 300 && resp.status < 400) {
    const to = resp.header('location').slice(0, 200) || 'nowhere (no Location)';
    throw new KinkoError(`kinko: ${what}: ${resp.status} redirect to ${to} not followed: the session token goes to the extension's address only, and kinko never redirects; is something else listening on port ${port}?`, { status: resp.status });
  }
  if (resp.status !== 200) throw errorOf(resp, what);
  return resp;
}

// KinkoError for an error answer: kinko's {"__type", "message"}, or AWS's extension's text.
function errorOf(resp, what) {
  let code = '';
  let message = '';
  let doc;
  try {
    doc = JSON.parse(resp.body.toString('utf8'));
  } catch {
    doc = undefined;
  }
  if (doc && typeof doc === 'object' && !Array.isArray(doc)) {
    if (typeof doc.__type === 'string') code = doc.__type;
    const m = doc.message ?? doc.Message;
    if (typeof m === 'string') message = m;
  } else {
    message = resp.body.toString('utf8').split(/\s+/).filter(Boolean).join(' ');
  }
  if (!code) code = resp.header('x-amzn-errortype').split(':')[0]; // "AccessDeniedException:http://internal..."
  code = code.slice(code.lastIndexOf('#') + 1); // "com.amazonaws...#ResourceNotFoundException"
  if (message.length > MAX_MESSAGE) message = `${message.slice(0, MAX_MESSAGE)}...`;
  let text = `kinko: ${what}: ${resp.status} ${code || http.STATUS_CODES[resp.status] || 'error'}`;
  if (message) text += `: ${message}`;
  return new KinkoError(text, { status: resp.status, code: code || undefined });
}

function checkId(what, id) {
  if (typeof id !== 'string' || id === '') throw new TypeError(`kinko: empty or non-string ${what}: pass a name or ARN`);
}

// keyOf names one read for the memory: every part of the request, each length-prefixed so no two
// requests share a key. It checks the arguments too.
function keyOf(kind, id, options) {
  if (kind === 'parameter') {
    checkId('parameter name', id);
    return `p${options.decrypt !== false ? 1 : 0}${id}`;
  }
  checkId('secret id', id);
  const stage = options.versionStage || '';
  const versionId = options.versionId || '';
  if (stage && versionId) {
    throw new TypeError(`kinko: secret ${JSON.stringify(id)}: versionStage and versionId exclude each other; pass one`);
  }
  const jsonKey = kind === 'secretKey' ? options.jsonKey : '';
  return `s${id.length}:${id}${stage.length}:${stage}${versionId.length}:${versionId}${jsonKey}`;
}

// request describes one read's GET: its path and query, how to decode the answer, and its name in messages.
function request(kind, id, options, key, refresh) {
  if (kind === 'parameter') {
    const query = [['name', id]];
    if (options.decrypt !== false) query.push(['withDecryption', 'true']);
    if (refresh) query.push(['refreshNow', 'true']);
    return { key, path: '/systemsmanager/parameters/get', query, what: `parameter ${JSON.stringify(id)}`, decode: decodeParameter };
  }
  const query = [['secretId', id]];
  const jsonKey = kind === 'secretKey' ? options.jsonKey : '';
  if (jsonKey) query.push(['jsonKey', jsonKey]);
  if (options.versionStage) query.push(['versionStage', options.versionStage]);
  if (options.versionId) query.push(['versionId', options.versionId]);
  if (refresh) query.push(['refreshNow', 'true']);
  const what = jsonKey ? `secret ${JSON.stringify(id)} key ${JSON.stringify(jsonKey)}` : `secret ${JSON.stringify(id)}`;
  return {
    key, path: '/secretsmanager/get', query, what,
    decode: jsonKey ? (resp, w) => decodeSecretKey(resp, w, jsonKey) : decodeSecret,
  };
}

function jsonDoc(resp, what, kind) {
  try {
    return JSON.parse(resp.body.toString('utf8'));
  } catch {
    // The parser's message may quote part of the body, which holds the secret: say only where.
    throw new KinkoError(`kinko: ${what}: the answer is not a ${kind} JSON document (${resp.body.length} bytes, Content-Type ${JSON.stringify(resp.header('content-type'))})`);
  }
}

function decodeSecret(resp, what) {
  const doc = jsonDoc(resp, what, 'GetSecretValue');
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new KinkoError(`kinko: ${what}: the answer is not a GetSecretValue JSON document`);
  }
  if (typeof doc.SecretBinary === 'string') doc.SecretBinary = new Uint8Array(Buffer.from(doc.SecretBinary, 'base64'));
  return doc;
}

function decodeSecretKey(resp, what, jsonKey) {
  if (!resp.header('content-type').startsWith('application/json')) return resp.body.toString('utf8'); // kinko's text/plain
  // An extension without jsonKey (AWS's) ignores it and sends the whole document: pick the key
  // here, with the errors kinko would have answered.
  const doc = jsonDoc(resp, what, 'GetSecretValue');
  let obj;
  try {
    obj = JSON.parse(doc && typeof doc.SecretString === 'string' ? doc.SecretString : 'null');
  } catch {
    obj = null;
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new KinkoError(`kinko: ${what}: 400: the secret is not a JSON object`, { status: 400 });
  }
  const v = Object.hasOwn(obj, jsonKey) ? obj[jsonKey] : undefined;
  if (typeof v !== 'string') {
    throw new KinkoError(`kinko: ${what}: 404: the secret has no string key ${JSON.stringify(jsonKey)}`, { status: 404 });
  }
  return v;
}

function decodeParameter(resp, what) {
  const doc = jsonDoc(resp, what, 'GetParameter');
  if (!doc || typeof doc.Parameter !== 'object' || doc.Parameter === null || typeof doc.Parameter.Value !== 'string') {
    throw new KinkoError(`kinko: ${what}: the answer is not a GetParameter JSON document`);
  }
  return doc;
}

function copySecret(doc) {
  const out = { ...doc };
  if (Array.isArray(doc.VersionStages)) out.VersionStages = [...doc.VersionStages];
  if (doc.SecretBinary instanceof Uint8Array) out.SecretBinary = new Uint8Array(doc.SecretBinary);
  return out;
}

// The module's functions share one client, made at the first call.
let shared;
function defaultClient() {
  if (!shared) shared = new KinkoClient();
  return shared;
}

module.exports = {
  KinkoClient,
  KinkoError,
  KinkoUnreachableError,
  KinkoTimeoutError,
  DEFAULT_PORT,
  TOKEN_HEADER,
  defaultClient,
  getSecret: (secretId, options) => defaultClient().getSecret(secretId, options),
  getSecretValue: (secretId, options) => defaultClient().getSecretValue(secretId, options),
  getParameter: (name, options) => defaultClient().getParameter(name, options),
  getParameterValue: (name, options) => defaultClient().getParameterValue(name, options),
};
