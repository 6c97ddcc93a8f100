import { describe, expect, it } from 'vitest'
import { snippet } from './snippets'

const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: "it's" }], stream: false, stop: null })

describe('copy as code', () => {
  it('curl quotes the body for the shell and reads the key from the environment', () => {
    const code = snippet('curl', 'https://api.example.com', 'openai', body)
    expect(code).toContain("'https://api.example.com/v1/passthrough/openai'")
    expect(code).toContain('"Authorization: Bearer $SMARTER_API_KEY"')
    expect(code).toContain(`'{"model":"m","messages":[{"role":"user","content":"it'\\''s"}],"stream":false,"stop":null}'`)
  })

  it('Python uses the openai SDK without retries and Python literals', () => {
    const code = snippet('python', 'https://api.example.com', 'openai', body)
    expect(code).toContain('OpenAI(api_key=os.environ["SMARTER_API_KEY"], base_url="https://api.example.com/v1", max_retries=0)')
    expect(code).toContain('"stream": False,')
    expect(code).toContain('"stop": None,')
    expect(code).toContain('client.post("/passthrough/openai", body=request, cast_to=dict)')
  })

  it('JavaScript posts with fetch', () => {
    const code = snippet('javascript', '', 'offline', body)
    expect(code).toContain('await fetch("/v1/passthrough/offline"')
    expect(code).toContain('process.env.SMARTER_API_KEY')
  })

  it('a streamed request is read as events and its text printed as it comes, in Python and JavaScript', () => {
    const streamed = JSON.stringify({ model: 'm', messages: [], stream: true })
    const py = snippet('python', 'https://api.example.com', 'openai', streamed)
    expect(py).toContain('stream=True, stream_cls=Stream[ChatCompletionChunk]')
    expect(py).toContain('print(chunk.choices[0].delta.content, end="", flush=True)')
    const js = snippet('javascript', 'https://api.example.com', 'openai', streamed)
    expect(js).toContain('for await (const bytes of response.body)')
    expect(js).toContain("process.stdout.write(event.choices?.[0]?.delta?.content ?? '')")
    expect(js).not.toMatch(/^const response = await/m) // no top-level await: CommonJS runs it too
  })
})
