// The official buyer client (@adcp/sdk) against an agent, as a buyer's code uses it: one
// create_media_buy that the seller hands off, then `submitted.track()` until the task is final
// and `waitForCompletion()` for its result. Prints one JSON line: what the client saw.
//
//   node track.cjs <agent-url> <mcp|a2a> <create_media_buy request as JSON>
// NODE_PATH points at the node_modules holding @adcp/sdk.
const { AdCPClient } = require('@adcp/sdk');

async function main() {
  const [url, protocol, request] = process.argv.slice(2);
  const client = new AdCPClient([{ id: 'seller', name: 'seller', agent_uri: url, protocol }]);
  const agent = client.agent('seller');
  const first = await agent.createMediaBuy(JSON.parse(request));
  const seen = { status: first.status, task_id: first.submitted && first.submitted.taskId, tracked: [] };
  if (first.status !== 'submitted') {
    seen.error = first.error || null;
    return seen;
  }
  const deadline = Date.now() + 30000;
  for (;;) {
    const info = await first.submitted.track();
    seen.tracked.push(info.status);
    if (['completed', 'failed', 'canceled', 'rejected'].includes(info.status) || Date.now() > deadline) {
      seen.final = info;
      break;
    }
    await new Promise(r => setTimeout(r, 250));
  }
  const done = await first.submitted.waitForCompletion(250);
  seen.completion = { status: done.status, success: done.success, data: done.data || null, error: done.error || null };
  return seen;
}

main().then(
  seen => { process.stdout.write(JSON.stringify(seen) + '\n'); process.exit(0); },
  e => { process.stdout.write(JSON.stringify({ thrown: String(e && e.stack || e) }) + '\n'); process.exit(0); },
);
