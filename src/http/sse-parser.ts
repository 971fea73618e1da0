/** One event of an event stream; `retry:` fields surface as an event named `retry`. */
export interface SseEvent {
  event: string;
  data: string;
  id: string | undefined;
}

/**
 * The event-stream format of the HTML standard: fields up to a blank line
 * make one event. Shared by `hookah tail` (Node) and the dashboard (browser),
 * so it depends on nothing but TextDecoder.
 */
export async function* parseSse(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] = [];
  let event = '';
  let id: string | undefined;
  for await (const chunk of chunks) {
    let text = buffer + decoder.decode(chunk, { stream: true });
    // A trailing CR may be the first half of a CRLF split across chunks.
    const heldCr = text.endsWith('\r');
    if (heldCr) text = text.slice(0, -1);
    const lines = text.split(/\r\n|\r|\n/);
    buffer = (lines.pop() ?? '') + (heldCr ? '\r' : '');
    for (const line of lines) {
      if (line === '') {
        if (data.length > 0) yield { event: event || 'message', data: data.join('\n'), id };
        data = [];
        event = '';
        id = undefined;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') data.push(value);
      else if (field === 'event') event = value;
      else if (field === 'id' && !value.includes('\0')) id = value;
      else if (field === 'retry' && /^\d+$/.test(value)) yield { event: 'retry', data: value, id: undefined };
    }
  }
}
