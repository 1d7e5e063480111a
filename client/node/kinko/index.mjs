// kinko's Node.js client as an ES module: the same code and the same memory as require('kinko')
// (index.cjs), so a function mixing import and require reads through one client.
import kinko from './index.cjs';

export const {
  KinkoClient,
  KinkoError,
  KinkoUnreachableError,
  KinkoTimeoutError,
  DEFAULT_PORT,
  TOKEN_HEADER,
  defaultClient,
  getSecret,
  getSecretValue,
  getParameter,
  getParameterValue,
} = kinko;
export default kinko;
