'use strict';
// Finding @aws-lambda-powertools/parameters, kinko's optional peer dependency. Normal resolution
// first (Powertools' layer puts it beside kinko, in /opt/nodejs/node_modules); then the function's
// own node_modules (LAMBDA_TASK_ROOT, then the working directory), which resolution from a layer
// never reaches: Lambda's NODE_PATH names /var/task, not /var/task/node_modules.
const fs = require('node:fs');
const path = require('node:path');
const { createRequire } = require('node:module');
const { pathToFileURL } = require('node:url');

const PEER = '@aws-lambda-powertools/parameters';
const MISSING = `kinko/powertools needs ${PEER} (a peer dependency): attach Powertools' layer, or install it ` +
  `in your function (npm install ${PEER}); kinko looked beside itself and in the function's node_modules`;

function roots() {
  const out = [];
  for (const d of [process.env.LAMBDA_TASK_ROOT, process.cwd()]) {
    if (d && !out.includes(d)) out.push(d);
  }
  return out;
}

// Whether e says PEER itself was not found (not something PEER imports).
const notFound = (e) => e && (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND') &&
  (String(e.message).includes(`'${PEER}'`) || String(e.message).includes(`'${PEER}/`));

// requirePeer loads PEER/sub's CommonJS build.
function requirePeer(sub) {
  const spec = `${PEER}/${sub}`;
  try {
    return require(spec);
  } catch (e) {
    if (!notFound(e)) throw e;
  }
  for (const root of roots()) {
    try {
      return createRequire(path.join(root, 'index.js'))(spec);
    } catch (e) {
      if (!notFound(e)) throw e;
    }
  }
  throw new Error(MISSING);
}

// esmPeerURL is the file PEER's exports map gives for `import PEER/sub`, found in the function's
// node_modules, or null.
function esmPeerURL(sub) {
  for (const root of roots()) {
    const dir = path.join(root, 'node_modules', ...PEER.split('/'));
    let pkg;
    try {
      pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    } catch {
      continue;
    }
    let target = pkg.exports && pkg.exports[`./${sub}`];
    if (target && typeof target === 'object') target = target.import ?? target.default;
    if (target && typeof target === 'object') target = target.default;
    if (typeof target === 'string') return pathToFileURL(path.join(dir, target)).href;
  }
  return null;
}

module.exports = { PEER, MISSING, requirePeer, esmPeerURL, notFound };
