import { describe, expect, it } from 'vitest'
import type { Provider } from './api'
import { docsLink, modelSuggestions, preferredProvider, providerProblem } from './providers'

const p = (name: string, configured: boolean, is_default = false): Provider => ({
  name,
  base_url: 'x',
  default_model: `${name}-model`,
  is_default,
  configured,
})

describe('the preselected provider', () => {
  it('is the default when it is configured', () => {
    expect(preferredProvider([p('offline', true), p('openai', true, true), p('mistral', true)])?.name).toBe('openai')
  })

  it('is another configured provider when the default is not', () => {
    expect(preferredProvider([p('openai', false, true), p('local', true), p('mistral', true), p('offline', true)])?.name).toBe('mistral')
  })

  it('is offline when nothing else is configured', () => {
    expect(preferredProvider([p('openai', false, true), p('local', true), p('mistral', false), p('offline', true)])?.name).toBe('offline')
  })
})

describe('docs links', () => {
  it('links absolute http(s) addresses only', () => {
    expect(docsLink('https://docs.mistral.ai/api/')).toBe('https://docs.mistral.ai/api/')
    expect(docsLink('docs/api.md#providers')).toBeNull()
    expect(docsLink('javascript:alert(1)')).toBeNull()
    expect(docsLink(null)).toBeNull()
  })
})

it('suggests the default model first', () => {
  expect(modelSuggestions(p('openai', true))[0]).toBe('openai-model')
})

describe('why a provider cannot answer', () => {
  it('names a keyless provider nothing listens on, not a missing key', () => {
    expect(providerProblem({ ...p('local', false), unreachable: true })).toBe('nothing answers at its address')
    expect(providerProblem(p('mistral', false))).toBe('no platform key configured')
    expect(providerProblem({ ...p('local', true), unreachable: false })).toBeNull()
  })

  it('never preselects a local provider nothing listens on', () => {
    expect(preferredProvider([p('openai', false, true), { ...p('local', false), unreachable: true }, p('offline', true)])?.name).toBe('offline')
  })
})
