// Powertools' getSecret (@aws-lambda-powertools/parameters/secrets), read through kinko: change the
// import, keep the calls (see secrets.cjs).
import { providers } from './base.mjs';

export const { SecretsProvider, getSecret } = providers;
