import type { Runtime } from '../runtime.ts';
import type { Edge } from './edge.ts';
import { createHealthEdge } from './health.ts';

/** Every protocol Hookah speaks. Order matters only for overlapping upgrade paths. */
export function createEdges(rt: Runtime): Edge[] {
  return [createHealthEdge(rt)];
}
