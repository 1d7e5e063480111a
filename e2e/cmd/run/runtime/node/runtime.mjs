// make run's Node.js runtime: Lambda's Runtime API loop for a handler named `file.function`.
//
// No dependencies. It does what Lambda's managed Node.js runtime does for a handler, no more:
// imports file.mjs, file.js or file.cjs from the function's directory (LAMBDA_TASK_ROOT), calls
// handler(event, context) (async, or with a callback as its third parameter) for each event, and
// reports a failed import or a thrown error the way Lambda does (init/error, invocation error,
// the stack in the log). node:http, not fetch: /invocation/next may wait longer than fetch's
// header timeout.
import fs from "node:fs";
import http from "node:http";
import * as nodeModule from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

// Lambda's Node.js runtimes also resolve an ES module's bare imports (import ... from "kinko") from
// the layers' /opt/nodejs/node_modules; Node alone does not (NODE_PATH is for require only).
if (typeof nodeModule.register === "function") nodeModule.register("./layer-hooks.mjs", import.meta.url);

const [apiHost, apiPort] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function call(method, urlPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: apiHost, port: apiPort, method, path: "/2018-06-01/runtime" + urlPath, headers, agent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

const self = new URL(import.meta.url).pathname;

function errorBody(e) {
  const err = e instanceof Error ? e : new Error(String(e));
  // The stack as the function sees it: this loop's own frames are not the function's.
  const trace = String(err.stack ?? "").split("\n").filter((l) => !l.includes(self));
  return { errorType: err.name, errorMessage: err.message, trace };
}

function logError(body) {
  // The stack's first line is "Type: message" already.
  console.error("[ERROR] " + (body.trace.length > 1 ? body.trace.join("\n") : `${body.errorType}: ${body.errorMessage}`));
}

async function initError(errorType, message, e) {
  const body = { ...errorBody(e ?? new Error(message)), errorType, errorMessage: message };
  logError(body);
  await call("POST", "/init/error", JSON.stringify(body), { "Lambda-Runtime-Function-Error-Type": errorType });
  process.exit(1);
}

async function loadHandler() {
  const name = process.env._HANDLER ?? "";
  const dot = name.lastIndexOf(".");
  if (dot <= 0 || dot === name.length - 1) {
    await initError("Runtime.MalformedHandlerName", `Bad handler '${name}': name it file.function (index.handler for index.mjs)`);
  }
  const root = process.env.LAMBDA_TASK_ROOT ?? process.cwd();
  const base = name.slice(0, dot);
  const fn = name.slice(dot + 1);
  const file = [".mjs", ".js", ".cjs"].map((ext) => path.resolve(root, base + ext)).find((f) => fs.existsSync(f));
  if (!file) {
    await initError("Runtime.ImportModuleError", `Cannot find module '${base}' in ${root} (looked for .mjs, .js, .cjs)`);
  }
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (e) {
    await initError("Runtime.ImportModuleError", `Unable to import module '${base}': ${e?.message ?? e}`, e);
  }
  const handler = mod[fn] ?? mod.default?.[fn];
  if (typeof handler !== "function") {
    await initError("Runtime.HandlerNotFound", `${base}.${fn} is undefined or not exported`);
  }
  return handler;
}

function context(headers) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"] ?? 0);
  return {
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION ?? "$LATEST",
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? "128",
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

function invoke(handler, event, ctx) {
  if (handler.length >= 3) {
    // The callback style: handler(event, context, callback).
    return new Promise((resolve, reject) => {
      const done = (err, result) => (err ? reject(err) : resolve(result));
      const r = handler(event, ctx, done);
      if (r && typeof r.then === "function") r.then(resolve, reject);
    });
  }
  return Promise.resolve().then(() => handler(event, ctx));
}

const handler = await loadHandler();
for (;;) {
  const next = await call("GET", "/invocation/next");
  const requestId = next.headers["lambda-runtime-aws-request-id"];
  process.env._X_AMZN_TRACE_ID = next.headers["lambda-runtime-trace-id"] ?? "";
  let body, where, headers = {};
  try {
    const result = await invoke(handler, next.body ? JSON.parse(next.body) : null, context(next.headers));
    body = JSON.stringify(result ?? null);
    where = "/response";
  } catch (e) {
    const err = errorBody(e);
    logError(err);
    body = JSON.stringify(err);
    where = "/error";
    headers = { "Lambda-Runtime-Function-Error-Type": "Unhandled" };
  }
  await call("POST", `/invocation/${requestId}${where}`, body, headers);
}
