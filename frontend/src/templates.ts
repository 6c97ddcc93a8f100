/** Starting points for a raw OpenAI-style chat completion request. */

export interface RequestTemplate {
  id: 'hello' | 'roles' | 'function'
  label: string
  description: string
  build: (model: string) => Record<string, unknown>
}

export const TEMPLATES: readonly RequestTemplate[] = [
  {
    id: 'hello',
    label: 'Hello world',
    description: 'One user message',
    build: (model) => ({
      model,
      messages: [{ role: 'user', content: 'Say hello to the world in one short sentence.' }],
    }),
  },
  {
    id: 'roles',
    label: 'Message roles',
    description: 'System, user, assistant, user',
    build: (model) => ({
      model,
      messages: [
        { role: 'system', content: 'You are a concise assistant. Answer in at most two sentences.' },
        { role: 'user', content: 'What is a serverless function?' },
        {
          role: 'assistant',
          content: 'A function that a cloud provider runs on demand, so you never manage the servers it runs on.',
        },
        { role: 'user', content: 'Name one on AWS.' },
      ],
      temperature: 0.2,
    }),
  },
  {
    id: 'function',
    label: 'Function call',
    description: 'A tool the model may call',
    build: (model) => ({
      model,
      messages: [{ role: 'user', content: 'What is the weather like in Paris today?' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_current_weather',
            description: 'Get the current weather in a given city',
            parameters: {
              type: 'object',
              properties: {
                location: { type: 'string', description: 'The city, e.g. Paris' },
                unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
              },
              required: ['location'],
            },
          },
        },
      ],
      tool_choice: 'auto',
    }),
  },
]

/** The template as the editor shows it: pretty-printed with two spaces. */
export function templateText(template: RequestTemplate, model: string): string {
  return JSON.stringify(template.build(model), null, 2)
}
