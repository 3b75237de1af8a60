// guard(): a plain async function, run through the enforcer. A call that does not run throws
// PostureRefused, whose `result` is the enforcer's answer.
import { guard, PostureRefused } from '@posture/sdk';
import { IDENTITY, setup } from './setup.mjs';

const { enforcer, approveFrom, printEvidence } = setup();

const refund = guard(enforcer, { tool: 'payments/refund', identity: () => IDENTITY }, async ({ amount }) => {
  console.log(`refunding ${amount}`);
  return { refunded: amount };
});

async function attempt(args) {
  try {
    console.log('result:', JSON.stringify(await refund(args)));
  } catch (error) {
    if (!(error instanceof PostureRefused)) throw error;
    console.log(`${error.result.status}: ${error.message}`);
    return error.message;
  }
}

await attempt({ amount: 9000 }); // over the grant's maximum: denied
const pending = await attempt({ amount: 120 }); // tier 3: waits for an approver
await approveFrom(pending);
await attempt({ amount: 120 }); // the same call, approved: runs once
await printEvidence();
