import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostOf } from '../../src/dispatcher/host-limit.ts';

describe('hostOf', () => {
  it('reads the same host key from a normalised href as URL.host does', () => {
    for (const raw of ['http://127.0.0.1:8080/a?b', 'https://Example.com/x', 'https://example.com:443/x', 'http://[::1]:9/x', 'http://u:p@h.example:81/x#f', 'https://h.example?x=1', 'http://h.example#f']) {
      const href = new URL(raw).href;
      assert.equal(hostOf(href), new URL(href).host, href);
    }
  });
});
