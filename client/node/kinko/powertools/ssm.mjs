// Powertools' getParameter (@aws-lambda-powertools/parameters/ssm), read through kinko: change the
// import, keep the calls (see ssm.cjs).
import { providers } from './base.mjs';

export const { SSMProvider, getParameter } = providers;
