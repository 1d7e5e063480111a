'use strict';
// kinko's Powertools providers, built on Powertools' own BaseProvider (whichever build the entry
// point loaded: secrets.cjs and ssm.cjs the CommonJS one, secrets.mjs and ssm.mjs the ES module
// one, so the GetParameterError a caller catches is the one it imported). BaseProvider keeps the
// options, transforms, forceFetch, throwOnMissing and its errors; kinko's client does the reads.
//
// maxAge stays Powertools' (default 5 s, POWERTOOLS_PARAMETERS_MAX_AGE) but is an upper bound
// under kinko's ttl: a value is served from memory only while it is younger than both maxAge and
// half of the ttl kinko gave with it, counted from when its request was sent.
const kinko = require('../index.cjs');

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

module.exports = { providersFor };
