'use strict';
// Powertools' getSecret (@aws-lambda-powertools/parameters/secrets), read through kinko: change the
// import, keep the calls. Options as Powertools': transform ('json', 'binary'), forceFetch, maxAge
// (an upper bound under kinko's ttl), throwOnMissing, sdkOptions.VersionStage / VersionId.
const { providersFor, requirePeer } = require('./provider.cjs');

const { SecretsProvider, getSecret } = providersFor(requirePeer('base'));
module.exports = { SecretsProvider, getSecret };
