import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { App } from './App'
import { GOOD_KEY, installFakeGateway, json, type FakeGateway } from './test/fakeGateway'

vi.mock('./components/CodeEditor', () => import('./test/textareaEditor'))

let gateway: FakeGateway

beforeEach(() => {
  gateway = installFakeGateway()
})

afterEach(() => {
  cleanup()
  sessionStorage.clear()
  localStorage.clear()
  vi.unstubAllGlobals()
})

const editor = () => screen.getByTestId('editor') as HTMLTextAreaElement
const queryEditor = () => screen.queryByTestId('editor') as HTMLTextAreaElement | null
const editorJson = () => JSON.parse(editor().value)

async function signIn(key = GOOD_KEY) {
  fireEvent.change(await screen.findByTestId('api-key-input'), { target: { value: key } })
  fireEvent.click(screen.getByTestId('sign-in'))
}

async function renderSignedIn() {
  sessionStorage.setItem('smarter.passthrough.apiKey', GOOD_KEY)
  render(<App />)
  await waitFor(() => expect(queryEditor()?.value).toBeTruthy())
}

describe('signing in', () => {
  it('shows the error message for a wrong key and stores nothing', async () => {
    render(<App />)
    await signIn('sk-wrong')
    expect(await screen.findByTestId('signin-error')).toHaveProperty('textContent', 'The API key is not valid.')
    expect(sessionStorage.length).toBe(0)
    expect(screen.queryByTestId('account')).toBeNull()
  })

  it('shows the account and keeps the key in sessionStorage only', async () => {
    render(<App />)
    await signIn()
    expect((await screen.findByTestId('account')).textContent).toContain('3141-5926-5359')
    expect(sessionStorage.getItem('smarter.passthrough.apiKey')).toBe(GOOD_KEY)
    const others = Object.entries({ ...sessionStorage }).filter(([name]) => name !== 'smarter.passthrough.apiKey')
    expect(others.map(([, value]) => value).join('')).not.toContain(GOOD_KEY)
    expect(localStorage.length).toBe(0)
    expect(document.cookie).toBe('')
  })

  it('sends the key as a bearer token', async () => {
    render(<App />)
    await signIn()
    await screen.findByTestId('account')
    const whoami = gateway.fetch.mock.calls.find(([url]) => String(url).endsWith('/v1/whoami'))!
    expect(new Headers((whoami[1] as RequestInit).headers).get('Authorization')).toBe(`Bearer ${GOOD_KEY}`)
  })

  it('signing out forgets the key', async () => {
    await renderSignedIn()
    fireEvent.click(screen.getByTestId('sign-out'))
    expect(sessionStorage.getItem('smarter.passthrough.apiKey')).toBeNull()
    expect(JSON.stringify({ ...sessionStorage })).not.toContain(GOOD_KEY)
    expect(await screen.findByTestId('api-key-input')).toBeTruthy()
  })

  it('a stored key that is no longer accepted is dropped', async () => {
    sessionStorage.setItem('smarter.passthrough.apiKey', 'sk-revoked')
    render(<App />)
    expect(await screen.findByTestId('signin-error')).toBeTruthy()
    expect(sessionStorage.length).toBe(0)
  })
})

describe('providers and templates', () => {
  it('preselects the default provider and starts from hello world with its model', async () => {
    await renderSignedIn()
    expect((screen.getByTestId('provider-select') as HTMLSelectElement).value).toBe('openai')
    expect(editorJson()).toMatchObject({ model: 'gpt-4o-mini', messages: [{ role: 'user' }] })
  })

  it("templates use the selected provider's default model", async () => {
    await renderSignedIn()
    fireEvent.change(screen.getByTestId('provider-select'), { target: { value: 'mistral' } })
    fireEvent.click(screen.getByTestId('template-function'))
    expect(editorJson()).toMatchObject({ model: 'mistral-small-latest', tool_choice: 'auto' })
    fireEvent.click(screen.getByTestId('template-roles'))
    expect(editorJson().model).toBe('mistral-small-latest')
    expect(editorJson().messages).toHaveLength(4)
  })

  it('switching provider swaps the default model but keeps a model the user chose', async () => {
    await renderSignedIn()
    fireEvent.change(screen.getByTestId('provider-select'), { target: { value: 'mistral' } })
    expect(editorJson().model).toBe('mistral-small-latest')
    fireEvent.change(editor(), { target: { value: '{"model": "my-own", "messages": []}' } })
    fireEvent.change(screen.getByTestId('provider-select'), { target: { value: 'openai' } })
    expect(editorJson().model).toBe('my-own')
  })
})

describe('the JSON editor', () => {
  it('says where the JSON is invalid and disables Send and Format', async () => {
    await renderSignedIn()
    fireEvent.change(editor(), { target: { value: '{\n  "model": "gpt-4o-mini",\n  "messages": [}\n}' } })
    expect(screen.getByTestId('json-error').textContent).toMatch(/^Line 3, column 16: /)
    expect(screen.getByTestId('send')).toHaveProperty('disabled', true)
    expect(screen.getByTestId('format')).toHaveProperty('disabled', true)
  })

  it('Format pretty-prints valid JSON', async () => {
    await renderSignedIn()
    fireEvent.change(editor(), { target: { value: '{"model":"m","messages":[{"role":"user","content":"hi"}]}' } })
    expect(screen.queryByTestId('json-error')).toBeNull()
    fireEvent.click(screen.getByTestId('format'))
    expect(editor().value).toBe(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }, null, 2))
    expect(screen.getByTestId('send')).toHaveProperty('disabled', false)
  })
})

describe('sending', () => {
  it('posts the editor text to the selected provider and shows status, time, journal key and body', async () => {
    await renderSignedIn()
    fireEvent.click(screen.getByTestId('template-hello'))
    fireEvent.click(screen.getByTestId('send'))
    expect((await screen.findByTestId('response-status')).textContent).toBe('200 OK')
    expect(gateway.sent).toEqual([{ provider: 'openai', body: editor().value, authorization: `Bearer ${GOOD_KEY}` }])
    expect(screen.getByTestId('response-duration').textContent).toMatch(/^\d+ ms$/)
    expect(screen.getByTestId('response-key').textContent).toBe('j-200')
    expect(JSON.parse(screen.getByTestId('response-body').textContent!)).toMatchObject({
      metadata: { key: 'j-200' },
      data: { status: 200 },
    })
    expect(screen.getByTestId('response-summary').textContent).toContain('Hello, world!')
  })

  it('sends once while a request runs, even on a double Ctrl+Enter, and keeps focus on Send', async () => {
    await renderSignedIn()
    let answer!: (response: Response) => void
    gateway.nextPassthrough = () => new Promise((resolve) => (answer = resolve))
    fireEvent.keyDown(editor(), { key: 'Enter', ctrlKey: true })
    fireEvent.keyDown(editor(), { key: 'Enter', ctrlKey: true })
    await waitFor(() => expect(screen.getByTestId('send').getAttribute('aria-disabled')).toBe('true'))
    expect(screen.getByTestId('send').textContent).toBe('Sending…')
    expect(screen.getByTestId('cancel')).toBeTruthy()
    fireEvent.click(screen.getByTestId('send'))
    expect(gateway.sent).toHaveLength(1)
    await act(async () => answer(json(200, { metadata: { key: 'j-late' }, data: { status: 200, body: {} } })))
    expect(screen.getByTestId('send').getAttribute('aria-disabled')).toBeNull()
    expect(screen.queryByTestId('cancel')).toBeNull()
    expect(screen.getByTestId('response-key').textContent).toBe('j-late')
  })

  it('Cancel aborts the request and says so', async () => {
    await renderSignedIn()
    gateway.nextPassthrough = () => new Promise(() => {})
    gateway.fetch.mockImplementationOnce(
      (_url: unknown, init: RequestInit) =>
        new Promise((_resolve, reject) =>
          init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))),
        ),
    )
    fireEvent.click(screen.getByTestId('send'))
    fireEvent.click(await screen.findByTestId('cancel'))
    expect(await screen.findByText('Cancelled before the provider answered.')).toBeTruthy()
    expect(screen.getByTestId('send').getAttribute('aria-disabled')).toBeNull()
  })

  it('while a request runs, focus moves from Send to Cancel, which comes after Send, and Esc cancels', async () => {
    await renderSignedIn()
    gateway.fetch.mockImplementationOnce(
      (_url: unknown, init: RequestInit) =>
        new Promise((_resolve, reject) =>
          init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))),
        ),
    )
    const send = screen.getByTestId('send')
    send.focus()
    fireEvent.click(send)
    const cancel = await screen.findByTestId('cancel')
    await waitFor(() => expect(document.activeElement).toBe(cancel))
    // Send, then Cancel, in document (tab) order.
    expect(send.compareDocumentPosition(cancel) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy()
    fireEvent.keyDown(document.body, { key: 'Escape' })
    expect(await screen.findByText('Cancelled before the provider answered.')).toBeTruthy()
    await waitFor(() => expect(document.activeElement).toBe(screen.getByTestId('response-output')))
  })

  it("shows a provider error as the provider sent it, with the provider's status", async () => {
    await renderSignedIn()
    const providerBody = { error: { message: 'Rate limit reached for gpt-4o-mini', type: 'requests', code: 'rate_limit_exceeded' } }
    gateway.nextPassthrough = async () =>
      json(429, { api: 'smarter.sh/v1', thing: 'Prompt', metadata: { key: 'j-429' }, data: { status: 429, body: providerBody } })
    fireEvent.click(screen.getByTestId('send'))
    expect((await screen.findByTestId('response-status')).textContent).toBe('429 Too Many Requests')
    expect(screen.getByTestId('provider-error-message').textContent).toBe('Rate limit reached for gpt-4o-mini')
    expect(JSON.parse(screen.getByTestId('provider-body').textContent!)).toEqual(providerBody)
    expect(screen.getByTestId('response-key').textContent).toBe('j-429')
  })

  it("shows the gateway's own error envelope", async () => {
    await renderSignedIn()
    gateway.nextPassthrough = async () =>
      json(504, { metadata: { key: 'j-504' }, error: { type: 'provider_timeout', message: 'The provider did not answer in time.', status: 504 } })
    fireEvent.click(screen.getByTestId('send'))
    expect((await screen.findByTestId('response-status')).textContent).toBe('504 Gateway Timeout')
    expect(screen.getByTestId('response-summary').textContent).toContain('The provider did not answer in time.')
  })

  it('copies the whole response', async () => {
    const writeText = vi.fn(async () => {})
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true })
    await renderSignedIn()
    fireEvent.click(screen.getByTestId('send'))
    await screen.findByTestId('response-body')
    fireEvent.click(screen.getByTestId('copy'))
    await waitFor(() => expect(screen.getByTestId('copy').textContent).toBe('Copied'))
    expect(writeText).toHaveBeenCalledWith(screen.getByTestId('response-body').textContent)
  })
})

/** A text/event-stream Response whose chunks the test releases one at a time. */
function controlledStream() {
  const encoder = new TextEncoder()
  let controller!: ReadableStreamDefaultController<Uint8Array>
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) })
  const event = (content: string) =>
    controller.enqueue(
      encoder.encode(`data: ${JSON.stringify({ object: 'chat.completion.chunk', model: 'gpt-4o-mini', choices: [{ index: 0, delta: { content } }] })}\n\n`),
    )
  return {
    response: new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream', 'X-Smarter-Journal-Key': 'j-s' } }),
    event,
    end: () => {
      controller.enqueue(encoder.encode('data: [DONE]\n\n'))
      controller.close()
    },
    /** What a browser's fetch does to the body when its signal aborts. */
    abort: () => controller.error(new DOMException('aborted', 'AbortError')),
  }
}

describe('streaming', () => {
  it('shows the answer token by token, then the whole reply', async () => {
    await renderSignedIn()
    const stream = controlledStream()
    gateway.nextPassthrough = async () => stream.response
    fireEvent.click(screen.getByTestId('send'))
    await act(async () => stream.event('Hello'))
    await waitFor(() => expect(screen.getByTestId('stream-live').textContent).toContain('Hello'))
    expect(screen.getByTestId('elapsed').textContent).toMatch(/^\d+\.\d s$/)
    await act(async () => stream.event(', world'))
    await waitFor(() => expect(screen.getByTestId('stream-live').textContent).toContain('Hello, world'))
    await act(async () => stream.end())
    expect((await screen.findByTestId('response-status')).textContent).toBe('200 OK')
    expect(screen.getByTestId('response-key').textContent).toBe('j-s')
    expect(screen.getByTestId('response-model').textContent).toBe('openai · gpt-4o-mini · streamed')
  })

  it("a stream without usage shows the gateway's token count and price", async () => {
    await renderSignedIn()
    const stream = controlledStream()
    gateway.nextPassthrough = async () => stream.response
    fireEvent.click(screen.getByTestId('send'))
    await act(async () => stream.event('Hi'))
    await act(async () => stream.end())
    expect((await screen.findByTestId('response-tokens')).textContent).toBe('5 in + 4 out = 9')
    expect(screen.getByTestId('response-cost').textContent).toBe('$0.0000042')
    const asked = gateway.fetch.mock.calls.map(([url]) => String(url)).filter((u) => u.includes('/v1/console/journal/'))
    expect(asked).toEqual(['/v1/console/journal/j-s?client=-'])
  })

  it('Cancel in the middle keeps what arrived', async () => {
    await renderSignedIn()
    const stream = controlledStream()
    gateway.fetch.mockImplementationOnce(async (_url: unknown, init: RequestInit) => {
      init.signal?.addEventListener('abort', stream.abort)
      return stream.response
    })
    fireEvent.click(screen.getByTestId('send'))
    await act(async () => stream.event('Partial'))
    await screen.findByTestId('stream-live')
    fireEvent.click(screen.getByTestId('cancel'))
    expect((await screen.findByTestId('response-summary')).textContent).toContain('Cancelled')
    expect(screen.getByTestId('reply-markdown').textContent).toContain('Partial')
  })
})

describe('work is kept', () => {
  it('the provider, body and answer come back after a reload of the tab', async () => {
    await renderSignedIn()
    fireEvent.change(screen.getByTestId('provider-select'), { target: { value: 'mistral' } })
    fireEvent.change(editor(), { target: { value: '{"model": "mistral-small-latest", "messages": []}' } })
    fireEvent.click(screen.getByTestId('send'))
    await screen.findByTestId('response-status')
    cleanup()
    render(<App />)
    await waitFor(() => expect(queryEditor()?.value).toBe('{"model": "mistral-small-latest", "messages": []}'))
    await waitFor(() => expect((screen.getByTestId('provider-select') as HTMLSelectElement).value).toBe('mistral'))
    expect(screen.getByTestId('response-key').textContent).toBe('j-200')
    expect(screen.getByTestId('history').textContent).toContain('History (1)')
  })

  it('a template asks before replacing edits, and Undo brings them back', async () => {
    await renderSignedIn()
    fireEvent.change(editor(), { target: { value: '{"mine": true}' } })
    fireEvent.click(screen.getByTestId('template-roles'))
    expect(editor().value).toBe('{"mine": true}')
    fireEvent.click(screen.getByTestId('template-replace'))
    expect(editorJson().messages).toHaveLength(4)
    fireEvent.click(screen.getByTestId('undo'))
    expect(editor().value).toBe('{"mine": true}')
    fireEvent.click(screen.getByTestId('template-hello'))
    fireEvent.click(screen.getByTestId('template-replace'))
    fireEvent.change(editor(), { target: { value: '{"typed": "after"}' } })
    expect(screen.queryByTestId('undo')).toBeNull() // an Undo now would throw the typing away
  })

  it('a provider switch clears the answer of the previous provider', async () => {
    await renderSignedIn()
    fireEvent.click(screen.getByTestId('send'))
    await screen.findByTestId('response-status')
    fireEvent.change(screen.getByTestId('provider-select'), { target: { value: 'mistral' } })
    expect(screen.queryByTestId('response-status')).toBeNull()
  })
})

describe('keys and providers', () => {
  it('a key revoked mid-session signs out with a message', async () => {
    await renderSignedIn()
    gateway.nextPassthrough = async () =>
      json(401, { metadata: { key: 'j-401' }, error: { type: 'unauthorized', message: 'the API key is not valid', status: 401 } })
    fireEvent.click(screen.getByTestId('send'))
    expect((await screen.findByTestId('signin-error')).textContent).toContain('no longer accepted')
    expect(sessionStorage.getItem('smarter.passthrough.apiKey')).toBeNull()
  })

  it("a provider's own 401 is shown, not taken for a revoked key", async () => {
    await renderSignedIn()
    gateway.nextPassthrough = async () =>
      json(401, { metadata: { key: 'j-p401' }, data: { status: 401, body: { error: { message: 'Incorrect API key provided' } } } })
    fireEvent.click(screen.getByTestId('send'))
    expect((await screen.findByTestId('provider-error-message')).textContent).toBe('Incorrect API key provided')
    expect(screen.getByTestId('account')).toBeTruthy()
  })

  it('renders the reply as sanitized Markdown', async () => {
    await renderSignedIn()
    gateway.nextPassthrough = async () =>
      json(200, {
        metadata: { key: 'j-md' },
        data: { status: 200, body: { choices: [{ message: { content: '**bold** <img src=x onerror="alert(1)">' } }] } },
      })
    fireEvent.click(screen.getByTestId('send'))
    await waitFor(() => expect(screen.getByTestId('reply-markdown').querySelector('strong')?.textContent).toBe('bold'))
    expect(screen.getByTestId('reply-markdown').innerHTML).not.toContain('onerror')
  })
})
