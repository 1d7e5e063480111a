// Types of kinko/powertools/ssm: Powertools' own signatures, so a switched import type-checks as
// before.
import type { getParameter as powertoolsGetParameter, SSMProvider as PowertoolsSSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import type { KinkoClient } from '../index.js';

/** Powertools' getParameter, read through kinko (maxAge an upper bound under kinko's ttl). */
export declare const getParameter: typeof powertoolsGetParameter;

/** Powertools' SSMProvider for single parameters (get), read through kinko. */
export declare class SSMProvider {
  constructor(options?: { client?: KinkoClient });
  get: PowertoolsSSMProvider['get'];
  /** Clears this provider's cache and kinko's memory. */
  clearCache(): void;
}
