const kinko = `http://localhost:${process.env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT ?? 2773}`;

async function kinkoGet(path, query) {
  const res = await fetch(`${kinko}${path}?${new URLSearchParams(query)}`, {
    headers: { 'X-Aws-Parameters-Secrets-Token': process.env.AWS_SESSION_TOKEN },
    redirect: 'error', // the token goes to kinko only: a redirect is an error, never followed
  });
  const body = await res.text();
  if (!res.ok) throw new Error(`kinko: ${res.status} ${body}`); // kinko's body names the id
  return body;
}

export async function getSecret(secretId, jsonKey) {
  if (jsonKey) return kinkoGet('/secretsmanager/get', { secretId, jsonKey }); // kinko extra
  return JSON.parse(await kinkoGet('/secretsmanager/get', { secretId })).SecretString;
}

export async function getParameter(name, decrypt = true) {
  const body = await kinkoGet('/systemsmanager/parameters/get', { name, withDecryption: String(decrypt) });
  return JSON.parse(body).Parameter.Value;
}

export const handler = async (event, context) => {
  const apiKey = await getSecret('OPENAI_API_KEY', 'OPENAI_API_KEY');
  const dbPassword = await getParameter('/app/db/password');
  // ... use them; never return or log them
  return { apiKeyChars: apiKey.length, dbPasswordChars: dbPassword.length };
};
