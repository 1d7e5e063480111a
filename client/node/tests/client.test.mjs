// Tests of the Node.js client against a fake extension (fake.mjs). Run from client/node with
// `node --test tests/*.test.mjs` (make test runs them through layer/clients_test.go).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import http from 'node:http';

import * as kinko from 'kinko';
import { KinkoClient, KinkoError, KinkoTimeoutError, KinkoUnreachableError } from 'kinko';
import { FakeClock, VALUE, ipv6Loopback, jsonAnswer, kinkoLike, parameterDoc, secretDoc, serve } from './fake.mjs';

const require = createRequire(import.meta.url);
const { keepFor } = require('../kinko/memo.cjs');

const client = (k, options = {}) => new KinkoClient({
  port: k.port, env: { AWS_SESSION_TOKEN: 'tok-1' }, hosts: ['127.0.0.1'], ...options,
});

function assertNoValue(text) {
  if (String(text).includes(VALUE)) assert.fail('the text holds the secret value (not printed)');
}

test('keepFor agrees with the Go and Python clients on the shared cases', () => {
  const { cases } = JSON.parse(readFileSync(new URL('../../internal/memo/testdata/keepfor.json', import.meta.url), 'utf8'));
  assert.ok(cases.length > 30);
  for (const c of cases) assert.equal(keepFor(c.lines), c.keep_ms, JSON.stringify(c.lines));
});

test('serves from memory inside half of kinko\'s ttl', async (t) => {
  const clock = new FakeClock();
  let status = 'kinko; fwd=miss; stored; ttl=300';
  const k = await serve(t, () => jsonAnswer(secretDoc('app', VALUE), status));
  const c = client(k, { clock: clock.now });
  assert.equal(await c.getSecret('app'), VALUE);
  clock.advance(149);
  assert.equal(await c.getSecret('app'), VALUE);
  assert.equal(k.count(), 1, "a read inside half of kinko's ttl went to kinko");
  clock.advance(1); // 150 s: half of ttl=300 is over
  status = 'kinko; hit; ttl=150';
  await c.getSecret('app');
  assert.equal(k.count(), 2);
  clock.advance(74); // kinko said 150 s left: kept 75 s more
  await c.getSecret('app');
  assert.equal(k.count(), 2);
  clock.advance(1);
  await c.getSecret('app');
  assert.equal(k.count(), 3);
});

test('the keep counts from when the request was sent', async (t) => {
  const clock = new FakeClock();
  const k = await serve(t, () => {
    clock.advance(20); // the answer arrives 20 s after the request left
    return jsonAnswer(secretDoc('app', VALUE), 'kinko; hit; ttl=60');
  });
  const c = client(k, { clock: clock.now });
  await c.getSecret('app');
  clock.advance(9); // 29 s after sending
  await c.getSecret('app');
  assert.equal(k.count(), 1);
  clock.advance(1); // 30 s: over
  await c.getSecret('app');
  assert.equal(k.count(), 2);
});

test('stale, ttl-less and unreadable answers are not kept', async (t) => {
  for (const status of ['kinko; hit; detail=stale-if-error', null, 'kinko; fwd=bypass', 'kinko; hit; ttl=0', 'garbage;;',
    'kinko; hit; ttl=300; detail=stale-while-revalidate']) {
    const k = await serve(t, () => jsonAnswer(secretDoc('app', VALUE), status));
    const c = client(k, { clock: new FakeClock().now });
    await c.getSecret('app');
    await c.getSecret('app');
    assert.equal(k.count(), 2, `kept an answer with Cache-Status ${status}`);
  }
});

test('an error is not kept', async (t) => {
  const k = await serve(t, (r) => (r.q('secretId') === 'app' ? jsonAnswer(secretDoc('app', VALUE))
    : [400, { 'Content-Type': 'application/json' }, '{"__type":"ResourceNotFoundException","message":"gone"}']));
  const c = client(k, { clock: new FakeClock().now });
  await c.getSecret('app');
  await assert.rejects(c.getSecret('other'), KinkoError);
  await assert.rejects(c.getSecret('other'), KinkoError);
  assert.equal(k.count(), 3);
  assert.equal(await c.getSecret('app'), VALUE);
  assert.equal(k.count(), 3);
});

test('the wall clock ages an answer when the monotonic clock stood still', async (t) => {
  const clock = new FakeClock();
  const k = await serve(t, () => jsonAnswer(secretDoc('app', VALUE), 'kinko; hit; ttl=300'));
  const c = client(k, { clock: clock.now });
  await c.getSecret('app');
  clock.wall += 151_000; // a frozen sandbox
  await c.getSecret('app');
  assert.equal(k.count(), 2);
});

test('refresh bypasses and replaces', async (t) => {
  const clock = new FakeClock();
  let value = `old-${VALUE}`;
  const k = await serve(t, kinkoLike(() => value, (r) => (r.q('refreshNow') ? 'kinko; fwd=request; stored; ttl=300' : 'kinko; hit; ttl=300')));
  const c = client(k, { clock: clock.now });
  assert.equal(await c.getSecret('app'), `old-${VALUE}`);
  value = `new-${VALUE}`;
  assert.equal(await c.getSecret('app'), `old-${VALUE}`);
  assert.equal(await c.getSecret('app', { refresh: true }), `new-${VALUE}`);
  assert.equal(k.requests.at(-1).q('refreshNow'), 'true');
  assert.equal(await c.getSecret('app'), `new-${VALUE}`);
  assert.equal(k.count(), 2);
  await c.getParameter('/p', { refresh: true });
  assert.equal(k.requests.at(-1).q('refreshNow'), 'true');
});

test('an answer to a request older than a refresh does not replace it', async (t) => {
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  let value = `old-${VALUE}`;
  const k = await serve(t, async (r) => {
    const v = value;
    if (!r.q('refreshNow')) await held; // the plain read answers after the refresh
    return jsonAnswer(secretDoc('app', v), 'kinko; hit; ttl=300');
  });
  const clock = new FakeClock();
  const c = client(k, { clock: clock.now });
  const plain = c.getSecret('app');
  while (k.count() < 1) await new Promise((r) => setTimeout(r, 5));
  clock.advance(1);
  value = `new-${VALUE}`;
  assert.equal(await c.getSecret('app', { refresh: true }), `new-${VALUE}`);
  release();
  assert.equal(await plain, `old-${VALUE}`);
  assert.equal(await c.getSecret('app'), `new-${VALUE}`, 'the older answer replaced the refreshed one');
  assert.equal(k.count(), 2);
});

test('the key is the whole request', async (t) => {
  const k = await serve(t, (r) => {
    if (r.path.startsWith('/systemsmanager')) return jsonAnswer(parameterDoc(r.q('name'), `${r.q('name')}|${r.q('withDecryption')}`));
    if (r.q('jsonKey')) {
      return [200, { 'Content-Type': 'text/plain', 'Cache-Status': 'kinko; hit; ttl=300' },
        `${r.q('secretId')}|${r.q('versionStage')}|${r.q('versionId')}|${r.q('jsonKey')}`];
    }
    return jsonAnswer(secretDoc(r.q('secretId'), `${r.q('secretId')}|${r.q('versionStage')}|${r.q('versionId')}`));
  });
  const c = client(k, { clock: new FakeClock().now });
  const reads = [
    [() => c.getSecret('a'), 'a|null|null'],
    [() => c.getSecret('b'), 'b|null|null'],
    [() => c.getSecret('a', { versionStage: 'AWSPREVIOUS' }), 'a|AWSPREVIOUS|null'],
    [() => c.getSecret('a', { versionId: 'v9' }), 'a|null|v9'],
    [() => c.getSecret('a', { jsonKey: 'k' }), 'a|null|null|k'],
    [() => c.getSecret('a', { jsonKey: 'j' }), 'a|null|null|j'],
    [() => c.getSecret('a', { jsonKey: 'k', versionStage: 'AWSPENDING' }), 'a|AWSPENDING|null|k'],
    [() => c.getParameter('/p'), '/p|true'],
    [() => c.getParameter('/p', { decrypt: false }), '/p|null'],
    [() => c.getParameter('a'), 'a|true'],
  ];
  for (let i = 0; i < 2; i++) {
    for (const [read, want] of reads) assert.equal(await read(), want);
  }
  assert.equal(k.count(), reads.length);
});

test('the memory is a bounded LRU', async (t) => {
  const k = await serve(t, kinkoLike(() => VALUE));
  const c = client(k, { clock: new FakeClock().now, cacheSize: 2 });
  await c.getSecret('a');
  await c.getSecret('b');
  await c.getSecret('a'); // a is now the most recently used
  await c.getSecret('c'); // evicts b
  assert.equal(k.count(), 3);
  await c.getSecret('a');
  assert.equal(k.count(), 3);
  await c.getSecret('b');
  assert.equal(k.count(), 4);
  assert.ok(c.memo.items.size <= 2);
});

test('memory off, and maxAge', async (t) => {
  const k = await serve(t, kinkoLike(() => VALUE));
  const off = client(k, { cacheSize: 0 });
  await off.getSecret('app');
  await off.getSecret('app');
  assert.equal(k.count(), 2);
  const clock = new FakeClock();
  const c = client(k, { clock: clock.now });
  await c.getSecret('app');
  clock.advance(10);
  await c.getSecret('app', { maxAge: 20 });
  assert.equal(k.count(), 3);
  await c.getSecret('app', { maxAge: 5 }); // older than this caller accepts
  assert.equal(k.count(), 4);
  await c.getSecret('app', { maxAge: 0 });
  assert.equal(k.count(), 5);
});

test('concurrent misses of one request make one request', async (t) => {
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  const k = await serve(t, async (r) => {
    await held;
    return kinkoLike(() => VALUE)(r);
  });
  const c = client(k);
  const reads = Array.from({ length: 8 }, () => c.getSecretValue('app'));
  while (k.count() < 1) await new Promise((r) => setTimeout(r, 5));
  release();
  const docs = await Promise.all(reads);
  assert.equal(k.count(), 1);
  docs[0].VersionStages.push('X');
  assert.deepEqual(docs[1].VersionStages, ['AWSCURRENT'], 'callers share one object');
});

test('whole answers are copies', async (t) => {
  const k = await serve(t, kinkoLike(() => VALUE));
  const c = client(k, { clock: new FakeClock().now });
  const doc = await c.getSecretValue('app');
  doc.SecretString = 'changed';
  doc.VersionStages.push('X');
  const again = await c.getSecretValue('app');
  assert.equal(again.SecretString, VALUE);
  assert.deepEqual(again.VersionStages, ['AWSCURRENT']);
  const p = await c.getParameterValue('/p');
  p.Parameter.Value = 'changed';
  assert.equal(await c.getParameter('/p'), VALUE);
  assert.equal(k.count(), 2);
});

test('reads send the requests AWS documents, with the token', async (t) => {
  const k = await serve(t, (r) => {
    if (r.path === '/systemsmanager/parameters/get') return jsonAnswer(parameterDoc(r.q('name'), VALUE));
    if (r.q('jsonKey')) return [200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Status': 'kinko; hit; ttl=9' }, VALUE];
    return jsonAnswer(secretDoc(r.q('secretId'), VALUE));
  });
  const c = client(k);
  assert.equal(await c.getSecret('prod/db'), VALUE);
  assert.equal(k.requests.at(-1).path, '/secretsmanager/get');
  assert.equal(await c.getSecret('prod/db', { jsonKey: 'password' }), VALUE);
  assert.equal(k.requests.at(-1).q('jsonKey'), 'password');
  assert.equal(await c.getParameter('/prod/db url'), VALUE);
  assert.equal(k.requests.at(-1).q('name'), '/prod/db url');
  assert.equal(k.requests.at(-1).q('withDecryption'), 'true');
  assert.equal((await c.getSecretValue('prod/db', { versionStage: 'AWSPREVIOUS' })).Name, 'prod/db');
  assert.equal(k.requests.at(-1).q('versionStage'), 'AWSPREVIOUS');
  for (const r of k.requests) assert.equal(r.headers['x-aws-parameters-secrets-token'], 'tok-1');
});

test('unicode ids and values round-trip', async (t) => {
  const value = `pw ünïcödé 🔑 キー\nline2=x==y&z${VALUE}`;
  const k = await serve(t, kinkoLike(() => value));
  const c = client(k);
  assert.equal(await c.getSecret('app/ключ&x=1+2 #'), value);
  assert.equal(k.requests.at(-1).q('secretId'), 'app/ключ&x=1+2 #');
});

test('jsonKey from an extension without it, and binary secrets', async (t) => {
  const k = await serve(t, (r) => (r.q('secretId') === 'bin'
    ? jsonAnswer(JSON.stringify({ Name: 'bin', SecretString: null, SecretBinary: 'AAEC/w==' }), null)
    : jsonAnswer(secretDoc('app', JSON.stringify({ password: VALUE, n: 3 })), null)));
  const c = client(k);
  assert.equal(await c.getSecret('app', { jsonKey: 'password' }), VALUE);
  for (const key of ['absent', 'n', 'constructor']) {
    const e = await c.getSecret('app', { jsonKey: key }).then(() => null, (err) => err);
    assert.ok(e instanceof KinkoError);
    assert.equal(e.status, 404);
    assertNoValue(e.message);
  }
  const doc = await c.getSecretValue('bin');
  assert.deepEqual([...doc.SecretBinary], [0, 1, 2, 255]);
  doc.SecretBinary[0] = 9;
  assert.equal((await c.getSecretValue('bin')).SecretBinary[0], 0);
  await assert.rejects(c.getSecret('bin'), /getSecretValue/);
});

test('bad arguments', async () => {
  const c = new KinkoClient({ env: { AWS_SESSION_TOKEN: 't' } });
  await assert.rejects(c.getSecret(''), TypeError);
  await assert.rejects(c.getSecret('a', { versionStage: 'S', versionId: 'V' }), TypeError);
  await assert.rejects(c.getSecret('a', { jsonKey: '' }), TypeError);
  await assert.rejects(c.getParameter(undefined), TypeError);
  for (const bad of ['0', '65536', 'x', '-1', '1e3']) {
    assert.throws(() => new KinkoClient({ env: { PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: bad } }), /PARAMETERS_SECRETS_EXTENSION_HTTP_PORT/);
  }
  assert.equal(new KinkoClient({ env: {} }).port, 2773);
});

test('errors carry the code and status, never the value', async (t) => {
  const cases = [
    [[400, { 'Content-Type': 'application/json' }, '{"__type":"ResourceNotFoundException","message":"Secrets Manager can\'t find the specified secret."}'], 400, 'ResourceNotFoundException'],
    [[401, { 'x-amzn-errortype': 'AccessDeniedException:http://internal/' }, 'bad session token or header key'], 401, 'AccessDeniedException'],
    [[400, {}, '{"__type":"com.amazonaws.kms#KMSAccessDeniedException","Message":"no"}'], 400, 'KMSAccessDeniedException'],
    [[504, {}, '{"__type":"GatewayTimeout","message":"Secrets Manager did not answer"}'], 504, 'GatewayTimeout'],
    [[500, {}, 'x'.repeat(5000)], 500, undefined],
  ];
  for (const [answer, status, code] of cases) {
    const k = await serve(t, () => answer);
    const e = await client(k).getSecret('app').then(() => null, (err) => err);
    assert.ok(e instanceof KinkoError, String(e));
    assert.equal(e.status, status);
    assert.equal(e.code, code);
    assert.match(e.message, /"app"/);
    assert.ok(e.message.length < 500);
  }
  const bad = await serve(t, () => [200, { 'Content-Type': 'application/json' }, `{"SecretString": "${VALUE}", broken`]);
  const e = await client(bad).getSecret('app').then(() => null, (err) => err);
  assert.ok(e instanceof KinkoError);
  assertNoValue(e.message);
  assertNoValue(e.stack);
  assertNoValue(String(e.cause));
});

test('no token makes no request; the token and port come from the environment', async (t) => {
  const k = await serve(t, kinkoLike(() => VALUE));
  await assert.rejects(client(k, { env: {} }).getSecret('app'), /AWS_SESSION_TOKEN/);
  assert.equal(k.count(), 0);
  const port = String(k.port);
  for (const [env, want] of [
    [{ AWS_SESSION_TOKEN: 'session', AWS_CONTAINER_AUTHORIZATION_TOKEN: 'container' }, 'session'],
    [{ AWS_SESSION_TOKEN: '', AWS_CONTAINER_AUTHORIZATION_TOKEN: 'container' }, 'container'],
    [{ AWS_CONTAINER_AUTHORIZATION_TOKEN: 'container' }, 'container'],
  ]) {
    const c = new KinkoClient({ env: { ...env, PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: port }, hosts: ['127.0.0.1'], cacheSize: 0 });
    assert.equal(c.port, k.port);
    await c.getSecret('app');
    assert.equal(k.requests.at(-1).headers['x-aws-parameters-secrets-token'], want);
  }
  const env = { AWS_SESSION_TOKEN: 'before', PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: port };
  const c = new KinkoClient({ env, hosts: ['127.0.0.1'], cacheSize: 0 });
  await c.getSecret('app');
  env.AWS_SESSION_TOKEN = 'after';
  await c.getSecret('app');
  assert.equal(k.requests.at(-1).headers['x-aws-parameters-secrets-token'], 'after');
  await assert.rejects(client(k, { env: { AWS_SESSION_TOKEN: 'a\r\nX-Evil: 1' } }).getSecret('app'), KinkoError);
});

test('never follows a redirect', async (t) => {
  const elsewhere = await serve(t, kinkoLike(() => VALUE));
  const k = await serve(t, () => [307, { Location: `http://127.0.0.1:${elsewhere.port}/secretsmanager/get?secretId=app` }, '']);
  const e = await client(k).getSecret('app').then(() => null, (err) => err);
  assert.ok(e instanceof KinkoError);
  assert.equal(e.status, 307);
  assert.match(e.message, /not followed/);
  assert.equal(elsewhere.count(), 0, 'the redirect was followed: the token went elsewhere');
});

test('never uses a proxy, even with NODE_USE_ENV_PROXY', async (t) => {
  const proxy = await serve(t, kinkoLike(() => 'from the proxy'));
  const k = await serve(t, kinkoLike(() => VALUE));
  const url = `http://127.0.0.1:${proxy.port}`;
  // In a child process: Node reads NODE_USE_ENV_PROXY at start.
  const { execFile } = await import('node:child_process');
  const script = `const { KinkoClient } = require('kinko');
    new KinkoClient({ port: ${k.port}, hosts: ['127.0.0.1'] }).getSecret('app').then((v) => process.stdout.write(v === process.env.WANT ? 'ok' : 'other'), (e) => process.stdout.write(e.name));`;
  const out = await new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], {
      cwd: new URL('..', import.meta.url),
      env: { ...process.env, NODE_USE_ENV_PROXY: '1', HTTP_PROXY: url, http_proxy: url, NO_PROXY: '', no_proxy: '', AWS_SESSION_TOKEN: 't', WANT: VALUE },
      encoding: 'utf8',
      timeout: 30_000,
    }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
  assert.equal(out, 'ok');
  assert.equal(proxy.count(), 0);
});

test('unreachable', async () => {
  const s = net.createServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve)); // nothing listens there now
  const e = await new KinkoClient({ port, env: { AWS_SESSION_TOKEN: 't' }, hosts: ['127.0.0.1'] }).getSecret('app').then(() => null, (err) => err);
  assert.ok(e instanceof KinkoUnreachableError, String(e));
  assert.match(e.message, /layer/);
  assert.equal(e.status, undefined);
});

test('the whole call is bounded by the timeout', async (t) => {
  // A server that sends a byte every 50 ms: each read is quick, the call is not.
  const sockets = new Set();
  const s = net.createServer((conn) => {
    sockets.add(conn);
    const head = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: ${'a'.repeat(100)}`);
    let i = 0;
    const timer = setInterval(() => {
      if (i >= head.length || conn.destroyed) return clearInterval(timer);
      conn.write(head.subarray(i, i + 1));
      i++;
    }, 50);
    conn.on('close', () => clearInterval(timer));
    conn.on('error', () => {});
  });
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  t.after(() => { for (const c of sockets) c.destroy(); s.close(); });
  const c = new KinkoClient({ port: s.address().port, env: { AWS_SESSION_TOKEN: 't' }, hosts: ['127.0.0.1'], timeout: 300 });
  const e = await c.getSecret('app').then(() => null, (err) => err);
  assert.ok(e instanceof KinkoTimeoutError, String(e));
  assert.equal(e.status, undefined);
});

test('IPv4 first, then IPv6', async (t) => {
  if (!(await ipv6Loopback())) {
    t.skip('no IPv6 loopback on this machine');
    return;
  }
  const v4 = await serve(t, kinkoLike(() => 'v4'));
  const v6same = await serve(t, kinkoLike(() => 'v6'), { host: '::1', port: v4.port });
  const c = new KinkoClient({ port: v4.port, env: { AWS_SESSION_TOKEN: 't' }, cacheSize: 0 });
  assert.equal(await c.getSecret('app'), 'v4');
  assert.equal(v6same.count(), 0);

  // A port free on both families, served on [::1] only.
  let v6;
  for (let i = 0; i < 20 && !v6; i++) {
    const candidate = await serve(t, kinkoLike(() => VALUE), { host: '::1' });
    const free = await new Promise((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(candidate.port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) v6 = candidate;
  }
  if (!v6) {
    t.skip('no port free on both 127.0.0.1 and [::1]');
    return;
  }
  const c6 = new KinkoClient({ port: v6.port, env: { AWS_SESSION_TOKEN: 't' }, cacheSize: 0 });
  assert.equal(await c6.getSecret('app'), VALUE);
  assert.equal(await c6.getSecret('app'), VALUE);
  assert.equal(v6.count(), 2);
  assert.match(v6.requests[0].headers.host, /^\[::1\]:/);
});

test('the module functions share one client, in ESM and CommonJS alike', async (t) => {
  const k = await serve(t, kinkoLike(() => VALUE));
  const saved = { ...process.env };
  process.env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT = String(k.port);
  process.env.AWS_SESSION_TOKEN = 'module';
  t.after(() => {
    for (const n of ['PARAMETERS_SECRETS_EXTENSION_HTTP_PORT', 'AWS_SESSION_TOKEN']) {
      if (saved[n] === undefined) delete process.env[n];
      else process.env[n] = saved[n];
    }
  });
  const cjs = require('kinko');
  assert.equal(cjs.defaultClient(), kinko.defaultClient(), 'import and require made two clients');
  assert.equal(cjs.KinkoError, KinkoError);
  kinko.defaultClient().clearCache();
  assert.equal(await kinko.getSecret('app'), VALUE);
  assert.equal(await cjs.getSecret('app'), VALUE);
  assert.equal((await kinko.getSecretValue('app')).SecretString, VALUE);
  assert.equal(await cjs.getParameter('/p'), VALUE);
  assert.equal((await kinko.getParameterValue('/p')).Parameter.Value, VALUE);
  assert.equal(k.count(), 2);
  assert.equal(kinko.default.getSecret, cjs.getSecret);
});

test('the package has no dependencies and loads without fetch', () => {
  const pkg = require('kinko/package.json');
  assert.equal(pkg.dependencies, undefined);
  assert.deepEqual(Object.keys(pkg.peerDependencies), ['@aws-lambda-powertools/parameters']);
  assert.equal(pkg.peerDependenciesMeta['@aws-lambda-powertools/parameters'].optional, true);
  const src = readFileSync(new URL('../kinko/index.cjs', import.meta.url), 'utf8');
  assert.doesNotMatch(src, /\bfetch\(/);
  assert.ok(http.STATUS_CODES[404]);
});
