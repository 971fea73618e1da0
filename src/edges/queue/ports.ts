/**
 * The queue edge's own state: who listens to which queue and how far each
 * client has read. Messages themselves live in the event log (topic
 * `q/<name>`), so they are durable and streamable like any topic.
 */

export type ClientState = 'ok' | 'refresh' | 'disconnected';

export interface QueueClient {
  /** User name ('' when anonymous); client names are unique per user. */
  user: string;
  client: string;
  queue: string;
  /** Event id the client has read up to (exclusive lower bound of the next read). */
  cursor: string;
  /**
   * `refresh`: messages it had not read were dropped (oversized message); the
   * next read tells it so. `disconnected`: a reload removed the queue or the
   * user's permission.
   */
  state: ClientState;
  reason: string | null;
  createdAt: number;
}

export interface QueueClientStore {
  get(user: string, client: string): Promise<QueueClient | undefined>;
  /** Inserts or replaces the client with this user and name. */
  put(client: QueueClient): Promise<void>;
  remove(user: string, client: string): Promise<boolean>;
  countForUser(user: string): Promise<number>;
  /** Moves the cursor and clears a pending refresh. */
  advance(user: string, client: string, cursor: string): Promise<void>;
  /**
   * Moves the cursor from `from` to `to` only if it is still at `from` and no
   * refresh or disconnect is pending; false otherwise. A read hands out what
   * it read only if this succeeds: a concurrent read of the same client (on
   * another node) must not hand it out again, and a refresh flagged during
   * the read must not be cleared unseen.
   */
  advanceFrom(user: string, client: string, from: string, to: string): Promise<boolean>;
  /**
   * The `time` of the queue API (server start, Unix seconds) when several nodes
   * share the store: `candidate` (this node's start) if none is recorded yet,
   * else the recorded one, so every node answers the same. It is kept as long
   * as the store keeps its data.
   */
  startTime?(candidate: string): Promise<string>;
  /** Flags every connected client of a queue for a refresh; returns how many. */
  flagRefresh(queue: string, reason: string): Promise<number>;
  disconnect(user: string, client: string, reason: string): Promise<void>;
  /** Connected (not disconnected) clients, for re-checking after a reload. */
  connected(): Promise<Pick<QueueClient, 'user' | 'client' | 'queue'>[]>;
}
