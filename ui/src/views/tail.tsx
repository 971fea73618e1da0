import { useEffect, useRef, useState } from 'preact/hooks';
import type { EnvelopeJson } from '../api.ts';
import { Badge, Empty } from '../components.tsx';
import { clockTime, excerpt } from '../format.ts';
import { navigate, type Route } from '../hooks.ts';
import { followTopics, type SseMessage, type TailState } from '../sse.ts';

/** Kept on screen; older messages scroll away (the backlog still has them). */
const MAX_SHOWN = 300;

interface Entry {
  key: number;
  message: SseMessage;
  envelope: EnvelopeJson | undefined;
  /** `gap` and the slow-consumer `error` are about the stream, not messages. */
  notice: string | undefined;
}

let seq = 0;

function toEntry(message: SseMessage): Entry {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message.data);
  } catch {
    parsed = undefined;
  }
  const isEnvelope = !!parsed && typeof parsed === 'object' && 'topic' in parsed && 'id' in parsed;
  const notice =
    !message.id && (message.event === 'gap' || message.event === 'error')
      ? `${message.event === 'gap' ? 'Missed messages' : 'Server warning'}: ${(parsed as { reason?: string } | undefined)?.reason ?? message.data}`
      : undefined;
  return { key: seq++, message, envelope: isEnvelope && !notice ? (parsed as EnvelopeJson) : undefined, notice };
}

export function TailView(props: { route: Route; suggestions: string[] }) {
  const topic = props.route.params.get('topic') ?? '';
  const [draft, setDraft] = useState(topic);
  const [entries, setEntries] = useState<Entry[]>([]);
  const [state, setState] = useState<TailState | { kind: 'stopped' }>({ kind: 'stopped' });
  const [paused, setPaused] = useState(false);
  const pausedRef = useRef(false);
  pausedRef.current = paused;
  const held = useRef<Entry[]>([]);

  useEffect(() => setDraft(topic), [topic]);

  useEffect(() => {
    setEntries([]);
    held.current = [];
    const topics = topic
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    if (topics.length === 0) {
      setState({ kind: 'stopped' });
      return;
    }
    return followTopics(topics, {
      onMessage: (m) => {
        const entry = toEntry(m);
        if (pausedRef.current) held.current = [entry, ...held.current].slice(0, MAX_SHOWN);
        else setEntries((prev) => [entry, ...prev].slice(0, MAX_SHOWN));
      },
      onState: setState,
    });
  }, [topic]);

  const resume = () => {
    setEntries((prev) => [...held.current, ...prev].slice(0, MAX_SHOWN));
    held.current = [];
    setPaused(false);
  };

  const follow = (e: Event) => {
    e.preventDefault();
    navigate('tail', { topic: draft.trim() });
  };

  const stateLabel =
    state.kind === 'retrying' ? `reconnecting in ${Math.round(state.inMs / 100) / 10} s (${state.reason})` : state.kind === 'failed' ? `refused: ${state.reason}` : state.kind;

  return (
    <div class="stack">
      <section class="panel">
        <form class="toolbar" onSubmit={follow}>
          <label for="tail-topic">Topic or pattern</label>
          <input
            id="tail-topic"
            name="topic"
            list="topic-suggestions"
            placeholder="orders/#, audit"
            value={draft}
            onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
            autocomplete="off"
            spellcheck={false}
          />
          <datalist id="topic-suggestions">
            {props.suggestions.map((t) => (
              <option value={t} key={t} />
            ))}
          </datalist>
          <button type="submit" class="button primary">
            Follow
          </button>
          {topic && (
            <button type="button" class="button" onClick={() => navigate('tail', {})}>
              Stop
            </button>
          )}
          {topic && (
            <button type="button" class="button" onClick={() => (paused ? resume() : setPaused(true))}>
              {paused ? `Resume (${held.current.length} waiting)` : 'Pause'}
            </button>
          )}
          {entries.length > 0 && (
            <button type="button" class="button" onClick={() => setEntries([])}>
              Clear
            </button>
          )}
          <span class="tail-state" data-testid="tail-state" data-state={state.kind}>
            <Badge status={state.kind === 'failed' ? 'failed' : state.kind} label={stateLabel} />
          </span>
        </form>
        <p class="hint">
          Server-Sent Events from <code>/sse</code>: messages published from now on, on every ingress. <code>+</code> matches one segment, a trailing{' '}
          <code>#</code> the rest; separate several topics with commas. After a disconnect it resumes where it stopped.
        </p>
      </section>

      <section class="panel">
        {!topic ? (
          <Empty>Choose a topic to follow.</Empty>
        ) : entries.length === 0 ? (
          <Empty>Waiting for messages on {topic}…</Empty>
        ) : (
          <ol class="tail" data-testid="tail-list">
            {entries.map((e) =>
              e.notice ? (
                <li key={e.key} class="notice">
                  {e.notice}
                </li>
              ) : e.envelope ? (
                <li key={e.key} class="tail-item" data-id={e.envelope.id}>
                  <div class="tail-meta">
                    <span class="time">{clockTime(e.envelope.received_at)}</span>
                    <span class="mono topic">{e.envelope.topic}</span>
                    <span class="mono id">#{e.envelope.id}</span>
                    {e.envelope.type && <span class="chip">{e.envelope.type}</span>}
                    <span class="muted">
                      {e.envelope.source} · {e.envelope.content_type || 'no content type'}
                    </span>
                  </div>
                  <details>
                    <summary class="mono body">{excerpt(e.envelope.data, e.envelope.encoding)}</summary>
                    <pre>{JSON.stringify(e.envelope, null, 2)}</pre>
                  </details>
                </li>
              ) : (
                <li key={e.key} class="tail-item">
                  <pre>{e.message.data}</pre>
                </li>
              ),
            )}
          </ol>
        )}
      </section>
    </div>
  );
}
