// Runs graphql-http's server audit suite (auditServer) against a running gateway.
//
// Usage: node audit.mjs <graphql url> <api key>
//
// The audits send no credentials of their own, so every request goes through a fetchFn that
// adds "Authorization: Bearer <key>". Prints one line per audit and a summary; exits 1 when any
// MUST or SHOULD audit fails (MAY audits are reported but optional), 2 on a usage or fatal error.
import { auditServer } from 'graphql-http';

const [url, key] = process.argv.slice(2);
if (!url || !key) {
  console.error('usage: node audit.mjs <graphql url> <api key>');
  process.exit(2);
}

function fetchWithKey(input, init) {
  const headers = new Headers(init?.headers ?? {});
  headers.set('authorization', `Bearer ${key}`);
  return fetch(input, { ...(init ?? {}), headers });
}

function level(name) {
  return name.split(' ', 1)[0]; // "MUST" | "SHOULD" | "MAY"
}

async function main() {
  const results = await auditServer({ url, fetchFn: fetchWithKey });
  const counts = {
    MUST: { ok: 0, fail: 0 },
    SHOULD: { ok: 0, fail: 0 },
    MAY: { ok: 0, fail: 0 },
  };
  const failing = [];
  for (const result of results) {
    const lvl = level(result.name);
    const bucket = counts[lvl] ?? (counts[lvl] = { ok: 0, fail: 0 });
    if (result.status === 'ok') {
      bucket.ok += 1;
      console.log(`PASS [${result.id}] ${result.name}`);
      continue;
    }
    bucket.fail += 1;
    let body = '';
    try {
      body = (await result.response.text()).slice(0, 500);
    } catch {
      // the audit may already have consumed the body
    }
    console.log(`FAIL [${result.id}] ${result.name} (${result.status}): ${result.reason}`);
    if (body) console.log(`     status ${result.response.status}, body: ${body}`);
    if (lvl === 'MUST' || lvl === 'SHOULD') failing.push(result);
  }
  for (const [lvl, { ok, fail }] of Object.entries(counts)) {
    console.log(`SUMMARY ${lvl} passed=${ok} failed=${fail}`);
  }
  console.log(`FAILING_REQUIRED ${failing.length}`);
  for (const result of failing) {
    console.log(`FAILING [${result.id}] ${result.name}`);
  }
  process.exit(failing.length === 0 ? 0 : 1);
}

main().catch((error) => {
  console.error('audit crashed:', error);
  process.exit(2);
});
