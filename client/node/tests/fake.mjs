// A fake extension for the client's tests: answers what the test says, records every request.
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';

export const VALUE = `s3cr3t-node-${randomBytes(6).toString('hex')}`;

// serve starts a server on host (default 127.0.0.1); answer(req) returns [status, headers, body].
export async function serve(t, answer, { host = '127.0.0.1', port = 0 } = {}) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    const r = { path: u.pathname, query: u.searchParams, headers: req.headers, q: (n) => u.searchParams.get(n) };
    requests.push(r);
    Promise.resolve(answer(r)).then(([status, headers, body]) => {
      res.writeHead(status, headers);
      res.end(body);
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  t.after(() => new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(resolve);
  }));
  return { port: server.address().port, requests, count: () => requests.length };
}

export function secretDoc(name, value, { version = 'v1', stages = ['AWSCURRENT'] } = {}) {
  return JSON.stringify({
    ARN: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}-AbCdEf`,
    CreatedDate: '2026-12-01T12:00:00.000Z',
    Name: name,
    SecretBinary: null,
    SecretString: value,
    VersionId: version,
    VersionStages: stages,
    ResultMetadata: {},
  });
}

export function parameterDoc(name, value) {
  return JSON.stringify({
    Parameter: {
      ARN: `arn:aws:ssm:us-east-1:123456789012:parameter${name}`, DataType: 'text', LastModifiedDate: '2026-12-01T12:00:00.000Z',
      Name: name, Selector: null, SourceResult: null, Type: 'SecureString', Value: value, Version: 1,
    },
    ResultMetadata: {},
  });
}

export function jsonAnswer(body, cacheStatus = 'kinko; fwd=miss; stored; ttl=300') {
  const headers = { 'Content-Type': 'application/json' };
  if (cacheStatus !== null) headers['Cache-Status'] = cacheStatus;
  return [200, headers, body];
}

// kinkoLike answers secrets and parameters by name, with value(r) as the value.
export function kinkoLike(value, cacheStatus) {
  return (r) => {
    if (r.path.startsWith('/systemsmanager')) return jsonAnswer(parameterDoc(r.q('name'), value(r)), cacheStatus?.(r));
    return jsonAnswer(secretDoc(r.q('secretId'), value(r)), cacheStatus?.(r));
  };
}

// A clock of [monotonic ms, wall ms] that moves only when told.
export class FakeClock {
  constructor() {
    this.mono = 1_000_000;
    this.wall = 1_800_000_000_000;
    this.now = () => [this.mono, this.wall];
  }

  advance(seconds) {
    this.mono += seconds * 1000;
    this.wall += seconds * 1000;
  }
}

export async function ipv6Loopback() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}
