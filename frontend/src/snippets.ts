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
  const path = `/passthrough/${encodeURIComponent(provider)}`
  if (language === 'python') {
    // The passthrough answers with the gateway's envelope, so the SDK's generic
    // post() is used rather than chat.completions.create(); max_retries=0 so a
    // 429 is not silently paid for three times. A 4xx/5xx raises APIStatusError.
    // A stream is the provider's chat.completion.chunk events: the SDK's Stream
    // parses them, and the text is printed as it arrives.
    const head = [
      'import os',
      '',
      streamed ? 'from openai import OpenAI, Stream\nfrom openai.types.chat import ChatCompletionChunk' : 'from openai import OpenAI',
      '',
      `client = OpenAI(api_key=os.environ["SMARTER_API_KEY"], base_url=${JSON.stringify(`${apiBase}/v1`)}, max_retries=0)`,
      '',
      `request = ${python(request)}`,
      '',
    ]
    const tail = streamed
      ? [
          `stream = client.post(${JSON.stringify(path)}, body=request, cast_to=ChatCompletionChunk, stream=True, stream_cls=Stream[ChatCompletionChunk])`,
          'for chunk in stream:',
          '    if chunk.choices and chunk.choices[0].delta.content:',
          '        print(chunk.choices[0].delta.content, end="", flush=True)',
          '    if chunk.usage:',
          '        print(f"\\n[{chunk.usage.prompt_tokens} in + {chunk.usage.completion_tokens} out tokens]", end="")',
          'print()',
        ]
      : [
          `envelope = client.post(${JSON.stringify(path)}, body=request, cast_to=dict)`,
          'print(envelope["data"]["status"], envelope["data"]["body"])',
        ]
    return [...head, ...tail].join('\n')
  }
  // No top-level await: it runs on Node 18+ as request.mjs and as request.js (CommonJS) alike.
  const call = [
    `  const response = await fetch(${JSON.stringify(url)}, {`,
    `    method: 'POST',`,
    `    headers: {`,
    `      Authorization: \`Bearer \${process.env.SMARTER_API_KEY}\`,`,
    `      'Content-Type': 'application/json',`,
    `    },`,
    `    body: JSON.stringify(${JSON.stringify(request, null, 2).replace(/\n/g, '\n    ')}),`,
    `  })`,
  ]
  const read = streamed
    ? [
        `  if (!response.headers.get('content-type')?.includes('text/event-stream')) {`,
        `    console.log(response.status, await response.text()) // an error before the stream began: the gateway's envelope`,
        `    return`,
        `  }`,
        `  // The provider's chat.completion.chunk events, printed as their text arrives.`,
        `  const decoder = new TextDecoder()`,
        `  let pending = ''`,
        `  for await (const bytes of response.body) {`,
        `    pending += decoder.decode(bytes, { stream: true })`,
        `    const lines = pending.split('\\n')`,
        `    pending = lines.pop()`,
        `    for (const line of lines.map((l) => l.trimEnd())) {`,
        `      if (!line.startsWith('data: ') || line === 'data: [DONE]') continue`,
        `      const event = JSON.parse(line.slice(6))`,
        `      if (event.error) console.error('\\nstream error:', event.error.message)`,
        `      process.stdout.write(event.choices?.[0]?.delta?.content ?? '')`,
        `    }`,
        `  }`,
        `  process.stdout.write('\\n')`,
      ]
    : [`  const envelope = await response.json()`, `  console.log(envelope.data?.status ?? response.status, envelope.data?.body ?? envelope.error)`]
  return ['async function main() {', ...call, ...read, '}', '', 'main().catch((error) => {', '  console.error(error)', '  process.exitCode = 1', '})'].join('\n')
}
