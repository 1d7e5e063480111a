// Type-checked by types.test.mjs (tsc --noEmit): how a TypeScript function uses kinko as CommonJS.
import kinko = require('kinko');
import secrets = require('kinko/powertools/secrets');
import ssm = require('kinko/powertools/ssm');

export async function handler(): Promise<string> {
  const key: string = await kinko.getSecret('prod/openai', { jsonKey: 'OPENAI_API_KEY' });
  const p = await kinko.getParameterValue('/p');
  const version: number = p.Parameter.Version;
  const j = await secrets.getSecret('prod/db', { transform: 'json' });
  const s = await ssm.getParameter('/p', { decrypt: true });
  // @ts-expect-error getSecret takes options, not a number
  await kinko.getSecret('x', 5);
  return `${key.length} ${version} ${JSON.stringify(j)} ${s}`;
}
