// The benchmark's Node.js functions on Lambda's Runtime API. BENCH_VARIANT picks what the handler
// does with the secret BENCH_SECRET: "kinko" reads it with kinko's getSecret in every invoke,
// "global" returns what init read once (through kinko: no AWS SDK here), "empty" nothing. The
// Runtime API is spoken with node:http. An event {"micro": N} times N reads in the function
// instead and answers nanoseconds per read.
const http = require('node:http');

const variant = process.env.BENCH_VARIANT;
const secret = process.env.BENCH_SECRET || '';

async function main() {
  // A global is read without await; kinko's getSecret is awaited, as a handler does.
  let read = () => '';
  if (variant === 'kinko') {
    const { getSecret } = require('kinko');
    read = () => getSecret(secret);
  } else if (variant === 'global') {
    const value = await require('kinko').getSecret(secret, { refresh: true });
    read = () => value;
  }
  const awaited = variant === 'kinko';
  const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const call = (method, path, body) => new Promise((resolve, reject) => {
    const req = http.request({ host, port, path: `/2018-06-01/runtime/invocation/${path}`, method, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
  for (;;) {
    const next = await call('GET', 'next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    const event = JSON.parse(next.body);
    let out;
    const n = Number(event.micro || 0);
    if (n) {
      const per = [];
      for (let r = 0; r < 5; r++) {
        const start = process.hrtime.bigint();
        if (awaited) for (let i = 0; i < n; i++) await read();
        else for (let i = 0; i < n; i++) read();
        per.push(Number(process.hrtime.bigint() - start) / n);
      }
      out = { ok: true, ns_per_read: per.sort((a, b) => a - b)[2] };
    } else {
      out = { ok: true, bytes: (await read()).length };
    }
    await call('POST', `${id}/response`, JSON.stringify(out));
  }
}

main();
