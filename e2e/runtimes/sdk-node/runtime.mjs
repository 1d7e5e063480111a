// Lambda's Runtime API loop for handler.mjs's handler(event, context), on Node's own fetch.
import { handler } from "./handler.mjs";

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/`;
for (;;) {
  const next = await fetch(api + "next");
  const requestId = next.headers.get("lambda-runtime-aws-request-id");
  const event = await next.json();
  const context = { awsRequestId: requestId, invokedFunctionArn: next.headers.get("lambda-runtime-invoked-function-arn") };
  let body, path;
  try {
    body = await handler(event, context);
    path = "/response";
  } catch (e) {
    body = { errorType: e.name, errorMessage: String(e.message).slice(0, 300) };
    path = "/error";
  }
  await (await fetch(api + requestId + path, { method: "POST", body: JSON.stringify(body) })).arrayBuffer();
}
