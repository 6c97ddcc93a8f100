// A client host from Node with nothing but global fetch, at the local base URL
// (a path of 127.0.0.1: no DNS name, no Host header, which fetch would drop).
// Usage: node responses_client.mjs BASE_URL API_KEY; prints the answers as JSON.
const [baseUrl, apiKey] = process.argv.slice(2);
const headers = { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json" };

async function post(path, body) {
  const response = await fetch(`${baseUrl}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response;
}

const chat = await (await post("/chat/completions", { model: "m", messages: [{ role: "user", content: "hello from node" }] })).json();
const created = await (await post("/responses", { model: "m", input: "hello from node" })).json();

// The typed event stream: sum the output_text deltas.
const stream = await post("/responses", { model: "m", input: "streamed from node", stream: true });
let text = "";
let buffer = "";
for await (const bytes of stream.body) {
  buffer += new TextDecoder().decode(bytes);
  let end;
  while ((end = buffer.indexOf("\n\n")) >= 0) {
    const block = buffer.slice(0, end);
    buffer = buffer.slice(end + 2);
    const data = block.split("\n").find((line) => line.startsWith("data: "));
    if (!data) continue;
    const event = JSON.parse(data.slice(6));
    if (event.type === "response.output_text.delta") text += event.delta;
  }
}

console.log(JSON.stringify({
  chat: chat.choices[0].message.content,
  responses: created.output.find((item) => item.type === "message").content[0].text,
  streamed: text,
}));
