import { describe, expect, it } from 'vitest'
import { appendMessages, checkRequest, readControls, retargetModel, setAt, setMaxTokens, setSystemPrompt } from './request'

const pretty = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, null, 2)
const request = (text: string) => {
  const check = checkRequest(text)
  if (!check.ok) throw new Error(check.message)
  return check.request
}

describe('checkRequest', () => {
  it.each([
    ['[]', 'an array'],
    ['null', 'null'],
    ['"hi"', 'a string'],
    ['  42', 'a number'],
  ])('%s is JSON but not a request', (text, kind) => {
    const check = checkRequest(text)
    expect(check.ok).toBe(false)
    if (!check.ok) {
      expect(check.message).toBe(`the body is ${kind}; a request must be a JSON object`)
      expect(check.line).toBe(1)
    }
  })

  it('passes an object and keeps the JSON error position otherwise', () => {
    expect(checkRequest('{"model": "m"}').ok).toBe(true)
    const broken = checkRequest('{\n  "a": }')
    expect(broken.ok).toBe(false)
    if (!broken.ok) expect([broken.line, broken.column]).toEqual([2, 8])
  })
})

describe('editing the JSON in place', () => {
  it('swaps the default model and nothing else, even on one line', () => {
    const compact = '{"model": "gpt-4o-mini",   "messages": []}'
    expect(retargetModel(compact, 'gpt-4o-mini', 'mistral-small-latest')).toBe('{"model": "mistral-small-latest",   "messages": []}')
    expect(retargetModel(compact, 'other-default', 'x')).toBe(compact)
    expect(retargetModel('{broken', 'gpt-4o-mini', 'x')).toBe('{broken')
  })

  it('adds, changes and removes a parameter keeping the indentation', () => {
    const withTemperature = setAt(pretty, ['temperature'], 0.5)
    expect(withTemperature).toBe(pretty.replace(/\n}$/, ',\n  "temperature": 0.5\n}'))
    expect(setAt(withTemperature, ['temperature'], undefined)).toBe(pretty)
  })

  it('sets max_tokens, or max_completion_tokens when the request already uses it', () => {
    expect(request(setMaxTokens(pretty, request(pretty), 64)).max_tokens).toBe(64)
    const newer = '{"model": "o4-mini", "max_completion_tokens": 10}'
    expect(request(setMaxTokens(newer, request(newer), 99))).toEqual({ model: 'o4-mini', max_completion_tokens: 99 })
  })

  it('inserts, edits and removes the system prompt as the first message', () => {
    const withSystem = setSystemPrompt(pretty, request(pretty), 'Be brief.')
    expect(request(withSystem).messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hi' },
    ])
    const edited = setSystemPrompt(withSystem, request(withSystem), 'Be kind.')
    expect(readControls(request(edited)).system).toBe('Be kind.')
    expect(setSystemPrompt(edited, request(edited), '')).toBe(pretty)
  })

  it('appends the turn to messages', () => {
    const next = appendMessages(pretty, request(pretty), [
      { role: 'assistant', content: 'hello' },
      { role: 'user', content: 'again' },
    ])
    expect(request(next).messages).toEqual([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello' },
      { role: 'user', content: 'again' },
    ])
  })

  it('reads the controls from the request', () => {
    expect(readControls({ model: 'm', temperature: 0.2, max_tokens: 5, stream: true, messages: [] })).toEqual({
      model: 'm',
      temperature: 0.2,
      maxTokens: 5,
      system: null,
      stream: true,
    })
  })
})
