// Warm GetSecretValue latency, AWS SDK for JavaScript v3: one client per endpoint, 10 warm-up
// calls, then BENCH_N timed. Prints {"<url>": median_ms, ...} for each URL in argv.
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

const n = Number(process.env.BENCH_N);
const out = {};
for (const url of process.argv.slice(2)) {
  const c = new SecretsManagerClient({ endpoint: url });
  const cmd = () => c.send(new GetSecretValueCommand({ SecretId: process.env.SECRET_NAME }));
  for (let i = 0; i < 10; i++) await cmd();
  const ts = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await cmd();
    ts.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ts.sort((a, b) => a - b);
  out[url] = ts[Math.floor(n / 2)];
}
console.log(JSON.stringify(out));
