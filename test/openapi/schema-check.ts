/**
 * A small JSON Schema (2020-12) checker covering what the OpenAPI document
 * uses: $ref into components, type, const, enum, anyOf/oneOf/allOf,
 * properties/required/additionalProperties, propertyNames, items, numeric
 * and string bounds, pattern. Returns every problem with its JSON path, so a
 * failing test says exactly which field of a real response is undocumented.
 */
export type Schema = Record<string, unknown> | boolean;

export interface Root {
  components?: { schemas?: Record<string, Schema> };
}

export function validate(value: unknown, schema: Schema, root: Root, path = '$'): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${path}: no value is allowed here`];
  const s = schema;
  const errors: string[] = [];

  if (typeof s.$ref === 'string') {
    const prefix = '#/components/schemas/';
    if (!s.$ref.startsWith(prefix)) return [`${path}: unsupported $ref ${s.$ref}`];
    const target = root.components?.schemas?.[s.$ref.slice(prefix.length)];
    if (target === undefined) return [`${path}: $ref ${s.$ref} does not resolve`];
    errors.push(...validate(value, target, root, path));
  }

  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    if (!types.some((t) => hasType(value, t))) return [...errors, `${path}: expected ${types.join(' or ')}, got ${describe(value)}`];
  }
  if ('const' in s && !deepEqual(value, s.const)) errors.push(`${path}: expected ${JSON.stringify(s.const)}, got ${JSON.stringify(value)}`);
  if (Array.isArray(s.enum) && !s.enum.some((e) => deepEqual(e, value))) errors.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`);

  if (Array.isArray(s.allOf)) for (const sub of s.allOf as Schema[]) errors.push(...validate(value, sub, root, path));
  if (Array.isArray(s.anyOf)) {
    const results = (s.anyOf as Schema[]).map((sub) => validate(value, sub, root, path));
    if (!results.some((r) => r.length === 0)) errors.push(`${path}: matches none of anyOf (${results.map((r) => r[0]).join(' | ')})`);
  }
  if (Array.isArray(s.oneOf)) {
    const matching = (s.oneOf as Schema[]).filter((sub) => validate(value, sub, root, path).length === 0).length;
    if (matching !== 1) errors.push(`${path}: matches ${matching} of oneOf, expected exactly 1`);
  }

  if (typeof value === 'number') {
    if (typeof s.minimum === 'number' && value < s.minimum) errors.push(`${path}: ${value} < minimum ${s.minimum}`);
    if (typeof s.maximum === 'number' && value > s.maximum) errors.push(`${path}: ${value} > maximum ${s.maximum}`);
  }
  if (typeof value === 'string') {
    if (typeof s.minLength === 'number' && [...value].length < s.minLength) errors.push(`${path}: shorter than ${s.minLength}`);
    if (typeof s.maxLength === 'number' && [...value].length > s.maxLength) errors.push(`${path}: longer than ${s.maxLength}`);
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(value)) errors.push(`${path}: ${JSON.stringify(value)} does not match ${s.pattern}`);
  }
  if (Array.isArray(value) && s.items !== undefined) {
    value.forEach((item, i) => errors.push(...validate(item, s.items as Schema, root, `${path}[${i}]`)));
  }
  if (isObject(value)) {
    const props = (s.properties ?? {}) as Record<string, Schema>;
    for (const key of (s.required ?? []) as string[]) if (!(key in value)) errors.push(`${path}: missing required property ${key}`);
    for (const [key, v] of Object.entries(value)) {
      const at = `${path}.${key}`;
      if (s.propertyNames !== undefined) errors.push(...validate(key, s.propertyNames as Schema, root, `${at} (name)`));
      if (key in props) errors.push(...validate(v, props[key]!, root, at));
      else if (s.additionalProperties === false) errors.push(`${at}: property not in the documented schema`);
      else if (s.additionalProperties !== undefined) errors.push(...validate(v, s.additionalProperties as Schema, root, at));
    }
  }
  return errors;
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'null':
      return value === null;
    case 'boolean':
      return typeof value === 'boolean';
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return Number.isInteger(value);
    case 'array':
      return Array.isArray(value);
    case 'object':
      return isObject(value);
    default:
      return false;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return `${typeof value} ${JSON.stringify(value)?.slice(0, 60)}`;
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
