import { describe, expect, it } from 'vitest'
import { assembleChunks, ChunkReader, chunksFromSseText, readReply } from './reply'

const chunk = (delta: object, finish: string | null = null) => ({
  id: 'c1',
  object: 'chat.completion.chunk',
  model: 'gpt-4o-mini',
  choices: [{ index: 0, delta, finish_reason: finish }],
})

describe('streamed answers', () => {
  it('reads events split anywhere across network reads', () => {
    const text = `data: ${JSON.stringify(chunk({ content: 'Hel' }))}\n\ndata: ${JSON.stringify(chunk({ content: 'lo' }, 'stop'))}\n\ndata: [DONE]\n\n`
    const reader = new ChunkReader()
    for (let i = 0; i < text.length; i += 7) reader.feed(text.slice(i, i + 7))
    expect(reader.done).toBe(true)
    const reply = readReply(assembleChunks(reader.chunks))
    expect(reply).toMatchObject({ text: 'Hello', finishReason: 'stop', model: 'gpt-4o-mini' })
  })

  it('assembles tool calls from their argument fragments and keeps the usage chunk', () => {
    const chunks = [
      chunk({ role: 'assistant', tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"location":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }, 'tool_calls'),
      { id: 'c1', choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } },
    ]
    const reply = readReply(assembleChunks(chunks))!
    expect(reply.text).toBeNull()
    expect(reply.toolCalls).toEqual([{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }])
    expect(reply.usage).toEqual({ prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 })
  })

  it('recognises a provider stream handed back as text, and nothing else', () => {
    expect(chunksFromSseText(`data: ${JSON.stringify(chunk({ content: 'x' }))}\n\ndata: [DONE]`)).toHaveLength(1)
    expect(chunksFromSseText('<html>')).toBeNull()
  })
})

describe('a long reply as text blocks', () => {
  it('cuts after a newline, keeps every character, and a block grows only at the end', async () => {
    const { textBlocks } = await import('./components/ResponsePanel')
    const text = Array.from({ length: 200 }, (_, i) => `line ${i} `.padEnd(99, '.') + '\n').join('')
    const blocks = textBlocks(text)
    expect(blocks.join('')).toBe(text)
    expect(blocks.slice(0, -1).every((b) => b.endsWith('\n'))).toBe(true)
    const longer = textBlocks(text + 'more')
    expect(longer.slice(0, -1)).toEqual(blocks.slice(0, -1))
    expect(textBlocks('no newline '.repeat(1000))).toHaveLength(1)
  })
})
