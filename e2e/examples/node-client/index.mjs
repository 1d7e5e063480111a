import { getParameter, getSecret } from 'kinko'; // the kinko layer's client (/opt/nodejs/node_modules)

export const handler = async (event, context) => {
  const apiKey = await getSecret('OPENAI_API_KEY', { jsonKey: 'OPENAI_API_KEY' });
  const dbPassword = await getParameter('/app/db/password'); // decrypted
  // ... use them; never return or log them. A warm invoke reads them from memory.
  return { apiKeyChars: apiKey.length, dbPasswordChars: dbPassword.length };
};
