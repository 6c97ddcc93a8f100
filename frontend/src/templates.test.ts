import { describe, expect, it } from 'vitest'
import { TEMPLATES, templateText } from './templates'

const byId = (id: string) => TEMPLATES.find((t) => t.id === id)!

describe('request templates', () => {
  it('offers hello world, message roles and function call', () => {
    expect(TEMPLATES.map((t) => t.label)).toEqual(['Hello world', 'Message roles', 'Function call'])
  })

  it("fill in the provider's default model", () => {
    for (const template of TEMPLATES) {
      expect(JSON.parse(templateText(template, 'mistral-small-latest')).model).toBe('mistral-small-latest')
    }
  })

  it('message roles go system, user, assistant, user', () => {
    const request = byId('roles').build('m') as { messages: { role: string }[] }
    expect(request.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user'])
  })

  it('function call offers one function tool and lets the model choose', () => {
    const request = byId('function').build('m') as { tools: { type: string; function: { name: string } }[]; tool_choice: string }
    expect(request.tools).toHaveLength(1)
    expect(request.tools[0].type).toBe('function')
    expect(request.tools[0].function.name).toBe('get_current_weather')
    expect(request.tool_choice).toBe('auto')
  })

  it('are pretty-printed with two spaces', () => {
    expect(templateText(byId('hello'), 'm')).toMatch(/^\{\n {2}"model": "m",\n/)
  })
})
