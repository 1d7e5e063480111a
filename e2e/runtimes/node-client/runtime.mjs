// A Node.js function on Lambda's Runtime API that reads through the layer's client (no AWS SDK).
// event.module picks the ES module handler (import) or the CommonJS one (require); both share the
// one client. It answers digests of what it read, never the values.
import { createRequire, register } from 'node:module';

register('./layer-hooks.mjs', import.meta.url);
const handlers = {
  esm: (await import('./handler.mjs')).handler,
  cjs: createRequire(import.meta.url)('./handler.cjs').handler,
};

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/`;
for (;;) {
  const next = await fetch(api + 'next');
  const requestId = next.headers.get('lambda-runtime-aws-request-id');
  const event = await next.json();
  let body;
  let path = '/response';
  try {
    body = await handlers[event.module ?? 'esm'](event);
  } catch (e) {
    // A KinkoError's message holds no value.
    body = { errorType: e.name, errorMessage: String(e.message).slice(0, 300), status: e.status, code: e.code };
    path = '/error';
  }
  await (await fetch(api + requestId + path, { method: 'POST', body: JSON.stringify(body) })).arrayBuffer();
}
