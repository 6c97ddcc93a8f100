// Reads a JSON array of simulations on stdin and prints, for each, IAM's decision
// ("Allowed", "ImplicitlyDenied", "ExplicitlyDenied") as @cloud-copilot/iam-simulate
// evaluates it. Used by tests/security/test_security_tenant_iam.py.
import { runSimulation } from '@cloud-copilot/iam-simulate'

const input = JSON.parse(await new Promise((resolve) => {
  let data = ''
  process.stdin.on('data', (chunk) => (data += chunk))
  process.stdin.on('end', () => resolve(data))
}))

const out = []
for (const s of input) {
  const simulation = {
    identityPolicies: (s.identityPolicies || []).map((policy, i) => ({ name: `identity${i}`, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: s.resourcePolicy,
    sessionPolicy: s.sessionPolicy,
    request: {
      action: s.action,
      principal: s.principal,
      resource: { resource: s.resource, accountId: s.resourceAccount || '123456789012' },
      contextVariables: s.context || {}
    }
  }
  const result = await runSimulation(simulation, {})
  if (result.resultType === 'error') {
    out.push({ error: result.errors })
  } else {
    out.push({ decision: result.overallResult })
  }
}
process.stdout.write(JSON.stringify(out))
