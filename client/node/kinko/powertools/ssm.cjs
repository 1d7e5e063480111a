'use strict';
// Powertools' getParameter (@aws-lambda-powertools/parameters/ssm), read through kinko: change the
// import, keep the calls. Options as Powertools': decrypt (default false, or
// POWERTOOLS_PARAMETERS_SSM_DECRYPT), transform, forceFetch, maxAge (an upper bound under kinko's
// ttl), throwOnMissing, sdkOptions.WithDecryption.
const { providersFor, requirePeer } = require('./provider.cjs');

const { SSMProvider, getParameter } = providersFor(requirePeer('base'));
module.exports = { SSMProvider, getParameter };
