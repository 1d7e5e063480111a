// Types of kinko's Node.js client as an ES module: the same as index.d.cts.
export * from './index.cjs';
import * as kinko from './index.cjs';
export default kinko;
