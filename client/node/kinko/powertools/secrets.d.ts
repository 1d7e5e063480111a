// Types of kinko/powertools/secrets: Powertools' own signatures, so a switched import type-checks
// as before.
import type { getSecret as powertoolsGetSecret, SecretsProvider as PowertoolsSecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { KinkoClient } from '../index.js';

/** Powertools' getSecret, read through kinko (maxAge an upper bound under kinko's ttl). */
export declare const getSecret: typeof powertoolsGetSecret;

/** Powertools' SecretsProvider, read through kinko. */
export declare class SecretsProvider {
  constructor(options?: { client?: KinkoClient });
  get: PowertoolsSecretsProvider['get'];
  /** Clears this provider's cache and kinko's memory. */
  clearCache(): void;
}
