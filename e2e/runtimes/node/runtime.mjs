// A Node.js function on Lambda's Runtime API with fetch alone (no runtime interface client).
//
// The handler reads a secret and a parameter through the extension the way AWS's documentation
// shows it: fetch to http://localhost:2773/... with the session token header. Node resolves
// localhost to ::1 first, so this also proves kinko's [::1] listener. It reports what it sees in
// its environment as digests, never values.
import { createHash } from "node:crypto";

const port = process.env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT ?? "2773";
const headers = { "X-Aws-Parameters-Secrets-Token": process.env.AWS_SESSION_TOKEN };

async function getSecret(secretId, host = "localhost") {
  const res = await fetch(`http://${host}:${port}/secretsmanager/get?secretId=${encodeURIComponent(secretId)}`, { headers });
  if (!res.ok) throw new Error(`secret ${secretId}: the extension answered ${res.status}`);
  return (await res.json()).SecretString;
}

async function getParameter(name) {
  const res = await fetch(`http://localhost:${port}/systemsmanager/parameters/get?name=${encodeURIComponent(name)}&withDecryption=true`, { headers });
  if (!res.ok) throw new Error(`parameter ${name}: the extension answered ${res.status}`);
  return (await res.json()).Parameter.Value;
}

const digest = (v) => (v === undefined ? null : { sha256: createHash("sha256").update(v, "utf8").digest("hex"), bytes: Buffer.byteLength(v, "utf8") });

async function handler(event) {
  const out = {
    runtime: "node",
    env: Object.fromEntries((event.env ?? []).map((n) => [n, digest(process.env[n])])),
    references_left: Object.keys(process.env).filter((k) => process.env[k].startsWith("kinko:")).sort(),
  };
  if (event.secret) out.http_secret = digest(await getSecret(event.secret));
  // Where /etc/hosts maps localhost to 127.0.0.1 only (as on the test machines), ask [::1] by
  // name too: on Lambda, localhost is ::1 first for Node.
  if (event.secret) out.http_secret_ipv6 = digest(await getSecret(event.secret, "[::1]"));
  if (event.parameter) out.http_parameter = digest(await getParameter(event.parameter));
  return out;
}

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/`;
for (;;) {
  const next = await fetch(api + "next");
  const requestId = next.headers.get("lambda-runtime-aws-request-id");
  const event = await next.json();
  let body, path;
  try {
    body = await handler(event);
    path = "/response";
  } catch (e) {
    body = { errorType: e.name, errorMessage: String(e.message).slice(0, 300) };
    path = "/error";
  }
  await (await fetch(api + requestId + path, { method: "POST", body: JSON.stringify(body) })).arrayBuffer();
}
