import type { Runtime } from '../runtime.ts';
import type { Edge } from './edge.ts';
import { createHealthEdge } from './health.ts';
import { createHubEdge } from './hub/index.ts';
import { createDispatchEdge } from './dispatch.ts';
import { createMessagesEdge } from './messages.ts';
import { createStreamEdge } from './stream/index.ts';
import { createTunnelEdge } from './tunnel/index.ts';
import { createGatewayEdge } from './gateway/index.ts';
import { createQueueEdge } from './queue/index.ts';
import { createUiEdge } from './ui.ts';
import { createOpenApiEdge } from './openapi.ts';

/** Every protocol Hookah speaks. Order matters only for overlapping upgrade paths. */
export function createEdges(rt: Runtime): Edge[] {
  return [createHealthEdge(rt), createHubEdge(rt), createDispatchEdge(rt), createMessagesEdge(rt), createStreamEdge(rt), createTunnelEdge(rt), createGatewayEdge(rt), createQueueEdge(rt), createUiEdge(rt), createOpenApiEdge(rt)];
}
