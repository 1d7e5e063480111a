// The function as an ES module: import { getSecret } from 'kinko', from the layer.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { defaultClient, getParameter, getSecret } from 'kinko';

const digest = (v) => ({ sha256: createHash('sha256').update(v, 'utf8').digest('hex'), bytes: Buffer.byteLength(v, 'utf8') });
const viaRequire = createRequire(import.meta.url)('kinko');

export async function handler(event) {
  return {
    runtime: 'node',
    module: 'esm',
    kinko_file: createRequire(import.meta.url).resolve('kinko'),
    one_client: viaRequire.defaultClient() === defaultClient(),
    secret_key: digest(await getSecret(event.secret, { jsonKey: event.json_key })),
    plain: digest(await getSecret(event.plain, { refresh: Boolean(event.refresh) })),
    parameter: digest(await getParameter(event.parameter)),
  };
}
