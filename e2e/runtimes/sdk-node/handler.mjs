// The same handler with the AWS SDK for JavaScript v3 (pinned in package-lock.json): no code for
// kinko; AWS_ENDPOINT_URL_SECRETS_MANAGER in the function's configuration points the client at it.
// It answers a digest of the key, never the key.
import { createHash } from "node:crypto";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

const secrets = new SecretsManagerClient({});

export const handler = async (event, context) => {
  const out = await secrets.send(new GetSecretValueCommand({ SecretId: process.env.SECRET_NAME }));
  const key = JSON.parse(out.SecretString)[process.env.SECRET_JSON_KEY ?? "OPENAI_API_KEY"];
  return { runtime: "node", key_sha256: createHash("sha256").update(key, "utf8").digest("hex"), key_chars: key.length };
};
