// kinko/powertools/secrets and kinko/powertools/ssm against the real @aws-lambda-powertools/parameters
// (installed from npm by make deps, pinned in client/node/package-lock.json), in ESM and CommonJS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { BaseProvider } from '@aws-lambda-powertools/parameters/base';
import { clearCaches, GetParameterError, ParameterNotFoundError } from '@aws-lambda-powertools/parameters';
import { KinkoClient, KinkoError } from 'kinko';
import { getSecret, SecretsProvider } from 'kinko/powertools/secrets';
import { getParameter, SSMProvider } from 'kinko/powertools/ssm';
import { FakeClock, VALUE, jsonAnswer, kinkoLike, parameterDoc, secretDoc, serve } from './fake.mjs';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));

const kinkoClient = (k, options = {}) => new KinkoClient({
  port: k.port, env: { AWS_SESSION_TOKEN: 'tok' }, hosts: ['127.0.0.1'], ...options,
});

// Seconds until BaseProvider's own cache drops key ([name, transform].toString()); -1 when absent.
function storedFor(provider, key) {
  const e = provider.store.get(key);
  return e ? (e.ttl - Date.now()) / 1000 : -1;
}

test('the shim is built on Powertools\' BaseProvider, the build matching the import', () => {
  assert.ok(SecretsProvider.prototype instanceof BaseProvider);
  assert.ok(SSMProvider.prototype instanceof BaseProvider);
  const cjsBase = require('@aws-lambda-powertools/parameters/base').BaseProvider;
  assert.notEqual(cjsBase, BaseProvider, 'one build for both: the test proves nothing');
  assert.ok(require('kinko/powertools/secrets').SecretsProvider.prototype instanceof cjsBase);
  assert.ok(require('kinko/powertools/ssm').SSMProvider.prototype instanceof cjsBase);
  // Powertools' own providers need the AWS SDK; kinko's do not (it is not installed here).
  assert.throws(() => require.resolve('@aws-sdk/client-secrets-manager'));
  assert.throws(() => new SecretsProvider({ awsSdkV3Client: {} }), TypeError);
});

test('getSecret: value, transform json, binary, sdkOptions, forceFetch', async (t) => {
  const doc = JSON.stringify({ user: 'admin', password: VALUE });
  const k = await serve(t, (r) => (r.q('secretId') === 'bin'
    ? jsonAnswer(JSON.stringify({ Name: 'bin', SecretString: null, SecretBinary: Buffer.from(VALUE).toString('base64') }))
    : jsonAnswer(secretDoc(r.q('secretId'), doc), r.q('refreshNow') ? 'kinko; fwd=request; stored; ttl=300' : 'kinko; hit; ttl=300')));
  const p = new SecretsProvider({ client: kinkoClient(k) });
  assert.equal(await p.get('db'), doc);
  assert.deepEqual(await p.get('db', { transform: 'json' }), { user: 'admin', password: VALUE });
  assert.equal(k.count(), 1, 'the second transform went to kinko: the client memory should have answered');
  const bin = await p.get('bin');
  assert.ok(bin instanceof Uint8Array);
  assert.equal(Buffer.from(bin).toString(), VALUE);
  await p.get('db2', { sdkOptions: { VersionStage: 'AWSPREVIOUS' } });
  assert.equal(k.requests.at(-1).q('versionStage'), 'AWSPREVIOUS');
  const before = k.count();
  await p.get('db', { forceFetch: true });
  assert.equal(k.count(), before + 1);
  assert.equal(k.requests.at(-1).q('refreshNow'), 'true');
});

test('maxAge is an upper bound under kinko\'s ttl', async (t) => {
  let ttl = 300;
  const k = await serve(t, (r) => jsonAnswer(secretDoc(r.q('secretId'), VALUE), `kinko; hit; ttl=${ttl}`));
  const clock = new FakeClock();
  const p = new SecretsProvider({ client: kinkoClient(k, { clock: clock.now }) });

  await p.get('a'); // Powertools' default maxAge: 5 s
  assert.ok(storedFor(p, 'a,') > 3 && storedFor(p, 'a,') <= 5, `stored for ${storedFor(p, 'a,')} s`);
  await p.get('b', { maxAge: 60 }); // kinko's ttl=300 allows 150 s: maxAge wins
  assert.ok(storedFor(p, 'b,') > 58 && storedFor(p, 'b,') <= 60, `stored for ${storedFor(p, 'b,')} s`);
  ttl = 20;
  await p.get('c', { maxAge: 60 }); // ttl=20 allows 10 s: kinko's ttl wins
  assert.ok(storedFor(p, 'c,') > 8 && storedFor(p, 'c,') <= 10, `stored for ${storedFor(p, 'c,')} s`);
  ttl = 1;
  await p.get('d', { maxAge: 60 }); // half a second: not kept by Powertools at all
  assert.equal(storedFor(p, 'd,'), -1);
  assert.equal(k.count(), 4);

  // Powertools' entry expired; kinko's memory answers only while younger than maxAge too.
  p.store.get('c,').ttl = 0;
  clock.advance(4);
  await p.get('c', { maxAge: 60 });
  assert.equal(k.count(), 4, 'within half of kinko\'s ttl the memory should have answered');
  assert.ok(storedFor(p, 'c,') > 4 && storedFor(p, 'c,') <= 6, `stored for ${storedFor(p, 'c,')} s (10 s less the 4 s gone)`);
  ttl = 20;
  p.store.get('c,').ttl = 0;
  await p.get('c', { maxAge: 3 }); // the kept answer is 4 s old: too old for this caller
  assert.equal(k.count(), 5);
  p.store.get('c,').ttl = 0;
  clock.advance(7); // that answer is 7 s old: within half of ttl=20
  await p.get('c', { maxAge: 60 });
  assert.equal(k.count(), 5);
  p.store.get('c,').ttl = 0;
  clock.advance(4); // 11 s old: over
  await p.get('c', { maxAge: 60 });
  assert.equal(k.count(), 6);
});

test('errors: Powertools\' classes, kinko\'s code as the cause, no value', async (t) => {
  const k = await serve(t, (r) => {
    if (r.q('secretId') === 'gone' || r.q('name') === '/gone') {
      const type = r.q('name') ? 'ParameterNotFound' : 'ResourceNotFoundException';
      return [400, { 'Content-Type': 'application/json' }, `{"__type":"${type}","message":"not here"}`];
    }
    if (r.q('secretId') === 'denied') return [400, {}, '{"__type":"AccessDeniedException","message":"no"}'];
    return jsonAnswer(secretDoc('x', `not json ${VALUE}`));
  });
  const s = new SecretsProvider({ client: kinkoClient(k) });
  const m = new SSMProvider({ client: kinkoClient(k) });
  await assert.rejects(s.get('gone', { throwOnMissing: true }), ParameterNotFoundError);
  await assert.rejects(m.get('/gone', { throwOnMissing: true }), ParameterNotFoundError);
  const gone = await s.get('gone').catch((e) => e);
  assert.ok(gone instanceof GetParameterError && !(gone instanceof ParameterNotFoundError));
  assert.ok(gone.cause instanceof KinkoError);
  assert.equal(gone.cause.code, 'ResourceNotFoundException');
  assert.equal(gone.cause.status, 400);
  const denied = await s.get('denied', { throwOnMissing: true }).catch((e) => e);
  assert.ok(denied instanceof GetParameterError && !(denied instanceof ParameterNotFoundError));
  assert.equal(denied.cause.code, 'AccessDeniedException');
  const bad = await s.get('x', { transform: 'json' }).catch((e) => e);
  assert.equal(bad.name, 'TransformParameterError');
  assert.ok(!String(bad.message).includes(VALUE), 'the transform error quotes the value');
});

test('getParameter: decrypt as Powertools resolves it', async (t) => {
  const k = await serve(t, (r) => jsonAnswer(parameterDoc(r.q('name'), `${VALUE}|${r.q('withDecryption')}`)));
  const p = new SSMProvider({ client: kinkoClient(k, { cacheSize: 0 }) });
  assert.equal(await p.get('/a'), `${VALUE}|null`, 'Powertools decrypts only when asked');
  assert.equal(await p.get('/b', { decrypt: true }), `${VALUE}|true`);
  assert.equal(await p.get('/c', { sdkOptions: { WithDecryption: true } }), `${VALUE}|true`);
  process.env.POWERTOOLS_PARAMETERS_SSM_DECRYPT = 'true';
  t.after(() => { delete process.env.POWERTOOLS_PARAMETERS_SSM_DECRYPT; });
  assert.equal(await p.get('/d'), `${VALUE}|true`);
  assert.equal(await p.get('/e', { decrypt: false }), `${VALUE}|null`);
  const json = await serve(t, (r) => jsonAnswer(parameterDoc(r.q('name'), '{"a":[1,2]}')));
  assert.deepEqual(await new SSMProvider({ client: kinkoClient(json) }).get('/j', { transform: 'json' }), { a: [1, 2] });
  await assert.rejects(p.getMultiple('/path'), GetParameterError);
});

test('the default getSecret and getParameter: Powertools\' clearCaches clears them and kinko\'s memory', async (t) => {
  const k = await serve(t, kinkoLike(() => VALUE));
  const saved = { ...process.env };
  process.env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT = String(k.port);
  process.env.AWS_SESSION_TOKEN = 'tok';
  t.after(() => {
    for (const n of ['PARAMETERS_SECRETS_EXTENSION_HTTP_PORT', 'AWS_SESSION_TOKEN']) {
      if (saved[n] === undefined) delete process.env[n];
      else process.env[n] = saved[n];
    }
  });
  const { defaultClient } = await import('kinko');
  defaultClient().port = k.port; // made earlier by another test file's import: point it here
  defaultClient().clearCache();
  assert.equal(await getSecret('app'), VALUE);
  assert.equal(await getSecret('app'), VALUE);
  assert.equal(await getParameter('/p', { decrypt: true }), VALUE);
  assert.equal(k.count(), 2);
  clearCaches();
  assert.equal(await getSecret('app'), VALUE);
  assert.equal(k.count(), 3, 'clearCaches left a value in kinko\'s memory');
});

test('Powertools in the function\'s node_modules, kinko in the layer (ESM and CommonJS)', async (t) => {
  const k = await serve(t, kinkoLike(() => VALUE));
  const dir = mkdtempSync(path.join(tmpdir(), 'kinko-powertools-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // /opt/nodejs/node_modules/kinko without Powertools beside it ...
  const opt = path.join(dir, 'opt', 'nodejs', 'node_modules');
  mkdirSync(opt, { recursive: true });
  cpSync(path.join(here, '..', 'kinko'), path.join(opt, 'kinko'), { recursive: true });
  // ... and /var/task/node_modules with it.
  const task = path.join(dir, 'task', 'node_modules');
  mkdirSync(path.join(task, '@aws-lambda-powertools'), { recursive: true });
  const installed = path.join(here, '..', 'node_modules');
  for (const p of ['@aws-lambda-powertools/parameters', '@aws-lambda-powertools/commons', '@aws']) {
    symlinkSync(path.join(installed, p), path.join(task, p));
  }
  const env = {
    PATH: process.env.PATH, LAMBDA_TASK_ROOT: path.join(dir, 'task'), AWS_SESSION_TOKEN: 'tok',
    PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: String(k.port), WANT: VALUE,
  };
  const run = (args) => new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: dir, env, timeout: 30_000, encoding: 'utf8' },
      (err, stdout, stderr) => resolve({ err, out: stdout.trim(), stderr }));
  });
  const [esm, cjs] = await Promise.all([
    run(['--input-type=module', '-e',
      `const { getSecret } = await import(${JSON.stringify(path.join(opt, 'kinko', 'powertools', 'secrets.mjs'))});
       process.stdout.write((await getSecret('app')) === process.env.WANT ? 'ok' : 'other');`]),
    run(['-e',
      `require(${JSON.stringify(path.join(opt, 'kinko', 'powertools', 'ssm.cjs'))}).getParameter('/p')
         .then((v) => process.stdout.write(v === process.env.WANT ? 'ok' : 'other'));`]),
  ]);
  assert.equal(esm.out, 'ok', esm.stderr);
  assert.equal(cjs.out, 'ok', cjs.stderr);

  // Without Powertools anywhere: one clear message.
  env.LAMBDA_TASK_ROOT = path.join(dir, 'empty');
  const missing = await run(['-e', `require(${JSON.stringify(path.join(opt, 'kinko', 'powertools', 'secrets.cjs'))})`]);
  assert.ok(missing.err);
  assert.match(missing.stderr, /kinko\/powertools needs @aws-lambda-powertools\/parameters/);
  const missingEsm = await run(['--input-type=module', '-e', `await import(${JSON.stringify(path.join(opt, 'kinko', 'powertools', 'ssm.mjs'))})`]);
  assert.match(missingEsm.stderr, /kinko\/powertools needs @aws-lambda-powertools\/parameters/);
});
