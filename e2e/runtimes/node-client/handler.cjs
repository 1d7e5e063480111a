// The function as CommonJS: require('kinko'), from the layer through NODE_PATH.
const { createHash } = require('node:crypto');
const { getParameter, getSecret } = require('kinko');

const digest = (v) => ({ sha256: createHash('sha256').update(v, 'utf8').digest('hex'), bytes: Buffer.byteLength(v, 'utf8') });

exports.handler = async (event) => ({
  runtime: 'node',
  module: 'cjs',
  kinko_file: require.resolve('kinko'),
  secret_key: digest(await getSecret(event.secret, { jsonKey: event.json_key })),
  plain: digest(await getSecret(event.plain, { refresh: Boolean(event.refresh) })),
  parameter: digest(await getParameter(event.parameter)),
});
