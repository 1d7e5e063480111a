// Type-checked by types.test.mjs (tsc --noEmit): how a TypeScript function uses kinko as an ES module.
import { getParameter, getSecret, getSecretValue, KinkoClient, KinkoError } from 'kinko';
import { getSecret as ptGetSecret, SecretsProvider } from 'kinko/powertools/secrets';
import { getParameter as ptGetParameter } from 'kinko/powertools/ssm';

const key: string = await getSecret('prod/openai', { jsonKey: 'OPENAI_API_KEY' });
const url: string = await getParameter('/prod/db-url', { decrypt: false, refresh: true });
const doc = await getSecretValue('prod/openai', { versionStage: 'AWSPREVIOUS' });
const binary: Uint8Array | null = doc.SecretBinary;
const client = new KinkoClient({ timeout: 1000, cacheSize: 0 });
const again: string = await client.getSecret('x', { maxAge: 10 });
try {
  await getSecret('x');
} catch (e) {
  if (e instanceof KinkoError) {
    const code: string | undefined = e.code;
    const status: number | undefined = e.status;
    void code, status;
  }
}
// @ts-expect-error jsonKey is a string
await getSecret('x', { jsonKey: 1 });
// @ts-expect-error the secret id is required
await getSecret();

// Powertools' signatures and options, unchanged.
const text = await ptGetSecret('prod/db');
const obj = await ptGetSecret('prod/db', { transform: 'json', maxAge: 60, forceFetch: true });
const typed = await ptGetSecret<{ password: string }>('prod/db', { transform: 'json' });
const param = await ptGetParameter('/prod/db-url', { decrypt: true, maxAge: 30 });
const mustHave: string = await ptGetParameter('/p', { throwOnMissing: true });
// @ts-expect-error Powertools' secrets take no decrypt option
await ptGetSecret('prod/db', { decrypt: true });
// @ts-expect-error transform is 'json' or 'binary'
await ptGetParameter('/p', { transform: 'yaml' });
const provider = new SecretsProvider({ client });
const viaProvider = await provider.get('prod/db', { transform: 'json' });

void key, url, binary, again, text, obj, typed, param, mustHave, viaProvider;
