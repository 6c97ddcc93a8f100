/**
 * The request as code to paste elsewhere. The key is never written into a
 * snippet: they read SMARTER_API_KEY from the environment.
 */

export type SnippetLanguage = 'curl' | 'python' | 'javascript'

export const SNIPPET_LABELS: Record<SnippetLanguage, string> = {
  curl: 'curl',
  python: 'Python (openai SDK)',
  javascript: 'JavaScript (fetch)',
}

const shellQuote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`

function compact(body: string): unknown {
  try {
    return JSON.parse(body)
  } catch {
    return body
  }
}

/** Python literals for a JSON value: True/False/None instead of true/false/null. */
function python(value: unknown, indent = ''): string {
  const inner = `${indent}    `
  if (value === null) return 'None'
  if (value === true) return 'True'
  if (value === false) return 'False'
  if (typeof value === 'string' || typeof value === 'number') return JSON.stringify(value)
  if (Array.isArray(value)) {
    if (!value.length) return '[]'
    return `[\n${value.map((item) => `${inner}${python(item, inner)},`).join('\n')}\n${indent}]`
  }
  const entries = Object.entries(value as Record<string, unknown>)
  if (!entries.length) return '{}'
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${python(v, inner)},`).join('\n')}\n${indent}}`
}

export function snippet(language: SnippetLanguage, apiBase: string, provider: string, body: string): string {
  const url = `${apiBase}/v1/passthrough/${encodeURIComponent(provider)}`
  const request = compact(body)
  const streamed = !!request && typeof request === 'object' && (request as { stream?: unknown }).stream === true
  if (language === 'curl') {
    return [
      `curl ${streamed ? '-N ' : ''}-sS ${shellQuote(url)} \\`,
      `  -H "Authorization: Bearer $SMARTER_API_KEY" \\`,
      `  -H 'Content-Type: application/json' \\`,
      `  -d ${shellQuote(typeof request === 'string' ? request : JSON.stringify(request))}`,
    ].join('\n')
  }
  if (language === 'python') {
    // The passthrough answers with the gateway's envelope, so the SDK's generic
    // post() is used rather than chat.completions.create(); max_retries=0 so a
    // 429 is not silently paid for three times. A 4xx/5xx raises APIStatusError.
    return [
      'import os',
      '',
      'from openai import OpenAI',
      '',
      `client = OpenAI(api_key=os.environ["SMARTER_API_KEY"], base_url=${JSON.stringify(`${apiBase}/v1`)}, max_retries=0)`,
      '',
      `request = ${python(request)}`,
      '',
      streamed
        ? `events = client.post(${JSON.stringify(`/passthrough/${encodeURIComponent(provider)}`)}, body=request, cast_to=str)`
        : `envelope = client.post(${JSON.stringify(`/passthrough/${encodeURIComponent(provider)}`)}, body=request, cast_to=dict)`,
      streamed ? "print(events)  # the provider's chat.completion.chunk events" : 'print(envelope["data"]["status"], envelope["data"]["body"])',
    ].join('\n')
  }
  return [
    `const response = await fetch(${JSON.stringify(url)}, {`,
    `  method: 'POST',`,
    `  headers: {`,
    `    Authorization: \`Bearer \${process.env.SMARTER_API_KEY}\`,`,
    `    'Content-Type': 'application/json',`,
    `  },`,
    `  body: JSON.stringify(${JSON.stringify(request, null, 2).replace(/\n/g, '\n  ')}),`,
    `})`,
    streamed ? `console.log(await response.text()) // the provider's chat.completion.chunk events` : `const envelope = await response.json()`,
    streamed ? '' : `console.log(envelope.data.status, envelope.data.body)`,
  ]
    .join('\n')
    .trimEnd()
}
