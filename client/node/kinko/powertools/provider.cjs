'use strict';
// kinko's Powertools providers on Powertools' own BaseProvider, the build the entry point loaded
// (CommonJS for .cjs, ES module for .mjs: the GetParameterError a caller catches is the one it
// imported). BaseProvider keeps the options, transforms and errors; kinko's client reads. maxAge
// (Powertools' default 5 s) is an upper bound under kinko's ttl: a value is served only while
// younger than both maxAge and half of kinko's ttl, from when its request was sent.
const fs = require('node:fs');
const path = require('node:path');
const { createRequire } = require('node:module');
const { pathToFileURL } = require('node:url');
const kinko = require('../index.cjs');

// The peer dependency: beside kinko (Powertools' layer), else in the function's node_modules
// (LAMBDA_TASK_ROOT, then the working directory), which resolution from a layer never reaches.
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

function define(base) {
  const { BaseProvider, GetOptions, DEFAULT_PROVIDERS } = base;

  class KinkoProvider extends BaseProvider {
    constructor(options = {}) {
      if (options.awsSdkV3Client !== undefined || options.clientConfig !== undefined) {
        throw new TypeError("kinko's Powertools providers read through the kinko extension and take no AWS SDK " +
          "client or clientConfig: pass { client: new KinkoClient(...) }, or nothing");
      }
      super({});
      this.kinko = options.client || kinko.defaultClient();
      this.caps = new Map(); // cache key -> ms the last answer may still be kept
    }

    // Powertools stores a value for maxAge seconds; kinko's ttl may allow less.
    addToCache(key, value, maxAge) {
      const left = this.caps.get(key);
      this.caps.delete(key);
      super.addToCache(key, value, Math.min(maxAge, Math.floor((left || 0) / 1000)));
    }

    clearCache() {
      super.clearCache();
      this.kinko.clearCache();
    }

    async read(kind, name, options, kinkoOptions) {
      const configs = new GetOptions(options);
      const answer = await this.kinko.read(kind, name, {
        ...kinkoOptions, refresh: configs.forceFetch === true, maxAge: configs.maxAge,
      });
      // BaseProvider's key for this read: [name, transform].toString().
      this.caps.set([name, configs.transform].toString(), answer.left);
      return answer.value;
    }
  }

  class SecretsProvider extends KinkoProvider {
    async _get(name, options) {
      const sdk = (options && options.sdkOptions) || {};
      try {
        const doc = await this.read('secret', name, options, { versionStage: sdk.VersionStage, versionId: sdk.VersionId });
        if (typeof doc.SecretString === 'string') return doc.SecretString;
        return doc.SecretBinary instanceof Uint8Array ? new Uint8Array(doc.SecretBinary) : doc.SecretBinary;
      } catch (e) {
        if (options && options.throwOnMissing && e instanceof kinko.KinkoError && e.code === 'ResourceNotFoundException') return undefined;
        throw e;
      }
    }

    async _getMultiple() {
      throw new Error('Method not implemented.');
    }
  }

  class SSMProvider extends KinkoProvider {
    async _get(name, options) {
      try {
        const doc = await this.read('parameter', name, options, { decrypt: decryptOf(options) });
        return doc.Parameter.Value;
      } catch (e) {
        if (options && options.throwOnMissing && e instanceof kinko.KinkoError && e.code === 'ParameterNotFound') return undefined;
        throw e;
      }
    }

    async _getMultiple() {
      throw new Error('kinko reads one parameter by name; GetParametersByPath is on its SDK endpoint (AWS_ENDPOINT_URL_SSM), not here');
    }
  }

  // The default providers live in Powertools' DEFAULT_PROVIDERS, under names of their own, so
  // Powertools' clearCaches() clears them (and kinko's memory) too.
  const getSecret = (name, options) => {
    if (!Object.hasOwn(DEFAULT_PROVIDERS, 'kinkoSecrets')) DEFAULT_PROVIDERS.kinkoSecrets = new SecretsProvider();
    return DEFAULT_PROVIDERS.kinkoSecrets.get(name, options);
  };
  const getParameter = (name, options) => {
    if (!Object.hasOwn(DEFAULT_PROVIDERS, 'kinkoSsm')) DEFAULT_PROVIDERS.kinkoSsm = new SSMProvider();
    return DEFAULT_PROVIDERS.kinkoSsm.get(name, options);
  };
  return { SecretsProvider, SSMProvider, getSecret, getParameter };
}

// decryptOf is Powertools' choice for SSM: options.decrypt, else sdkOptions.WithDecryption, else
// POWERTOOLS_PARAMETERS_SSM_DECRYPT, else false.
const TRUE = new Set(['1', 'y', 'yes', 't', 'true', 'on']);
function decryptOf(options) {
  if (options && options.decrypt !== undefined) return options.decrypt === true;
  const sdk = options && options.sdkOptions;
  if (sdk && sdk.WithDecryption !== undefined) return sdk.WithDecryption === true;
  return TRUE.has(String(process.env.POWERTOOLS_PARAMETERS_SSM_DECRYPT || '').trim().toLowerCase());
}

// One set of classes per Powertools build, so secrets and ssm share them.
const defined = new WeakMap();
function providersFor(base) {
  let p = defined.get(base.BaseProvider);
  if (!p) {
    p = define(base);
    defined.set(base.BaseProvider, p);
  }
  return p;
}

module.exports = { providersFor, requirePeer, esmPeerURL, notFound, PEER, MISSING };
