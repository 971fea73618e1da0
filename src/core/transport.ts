import type { StoredEvent } from './event.ts';

/**
 * How the topic bus reaches subscribers connected to other Hookah nodes.
 * Single-node Hookah has none. The bus tells the transport which topic
 * patterns have local subscribers (`watch`/`unwatch`, reference-counted by the
 * bus), so a node only receives the topics somebody on it listens to, and
 * hands everything the transport receives to its local listeners.
 */
export interface BusTransport {
  /**
   * True when events published on this node also come back through
   * `onRemote`, in the cluster-wide order. The bus then delivers them to its
   * own listeners only from there, so every node sees a topic in the same
   * order whichever node published.
   */
  readonly echoesLocal: boolean;
  /** Sends an event this node just stored to the other nodes (a no-op when storing already did). */
  broadcast(event: StoredEvent): Promise<void>;
  /**
   * Starts receiving events whose topic matches `pattern` (a topic or an
   * MQTT-style wildcard). Events stored from about the moment of the call are
   * delivered, including those published while the subscription was being
   * set up; the returned promise settles once it is in place.
   */
  watch(pattern: string): Promise<void>;
  unwatch(pattern: string): void;
  /** The one receiver of remote events (the bus). Per topic, events arrive in id order, each once. */
  onRemote(fn: (event: StoredEvent) => void): void;
  close(): Promise<void>;
}
