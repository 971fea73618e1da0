import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { boundaryOf, joinMultipart, MultipartError, splitMultipart, textPart } from '../../src/edges/multipart-form.ts';

const body = (s: string) => Buffer.from(s, 'latin1');

describe('multipart/form-data at the byte level', () => {
  test('boundaryOf reads quoted and bare boundaries and refuses missing or overlong ones', () => {
    assert.equal(boundaryOf('multipart/form-data; boundary=abc'), 'abc');
    assert.equal(boundaryOf('multipart/form-data; charset=utf-8; boundary="a b;c"'), 'a b;c');
    assert.throws(() => boundaryOf('multipart/form-data'), /no boundary parameter/);
    assert.throws(() => boundaryOf(`multipart/form-data; boundary=${'x'.repeat(71)}`), /longer than 70/);
  });

  test('splitMultipart finds names, filenames and content without decoding them', () => {
    const parts = splitMultipart(
      body(
        'ignored preamble\r\n--b \t\r\n' +
          'Content-Disposition: form-data; name="semi;colon \\"q\\""\r\n\r\nv1\r\n' +
          '--b\r\ncontent-disposition: form-data; filename="f.txt"; name=bare\r\nContent-Type: text/plain\r\n\r\n\xe9\r\n\r\n' +
          '--b\r\n\r\nno headers\r\n' +
          '--b--\r\nepilogue',
      ),
      'b',
      10,
    );
    assert.deepEqual(
      parts.map((p) => [p.name, p.filename, p.content.toString('latin1')]),
      [
        ['semi;colon "q"', undefined, 'v1'],
        ['bare', 'f.txt', '\xe9\r\n'],
        [undefined, undefined, 'no headers'],
      ],
    );
    assert.equal(parts[1]!.raw.toString('latin1'), 'content-disposition: form-data; filename="f.txt"; name=bare\r\nContent-Type: text/plain\r\n\r\n\xe9\r\n');
  });

  test('splitMultipart accepts an empty preamble (the body starts with CRLF)', () => {
    const parts = splitMultipart(body('\r\n--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b--'), 'b', 10);
    assert.deepEqual(parts.map((p) => [p.name, p.content.toString()]), [['a', '1']]);
  });

  test('splitMultipart refuses malformed bodies with a reason', () => {
    const cases: [string, RegExp][] = [
      ['no delimiter at all', /no '--b' boundary line/],
      ['--b\nContent-Disposition: form-data; name="a"\n\n1\n--b--', /not followed by CRLF/],
      ['--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1', /ends before the closing '--b--'/],
      ['--b\r\nContent-Disposition: form-data; name="a"\r\n1\r\n--b--', /no blank line after its headers/],
      ['--b\r\n\r\n1\r\n--b\r\n\r\n2\r\n--b\r\n\r\n3\r\n--b--', /more than 2 parts/],
    ];
    for (const [text, reason] of cases) assert.throws(() => splitMultipart(body(text), 'b', 2), (err: Error) => err instanceof MultipartError && reason.test(err.message));
  });

  test('joinMultipart round-trips what splitMultipart read, and escapes names in new text parts', () => {
    const original = body('--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b\r\n\r\n\x00\xff\r\n--b--\r\n');
    assert.deepEqual(joinMultipart(splitMultipart(original, 'b', 10).map((p) => p.raw), 'b'), original);
    const [part] = splitMultipart(joinMultipart([textPart('q"\r\nx', 'héllo')], 'b'), 'b', 10);
    assert.equal(part!.name, 'q%22%0D%0Ax');
    assert.equal(part!.content.toString('utf8'), 'héllo');
    assert.throws(() => joinMultipart([textPart('a', 'x\r\n--b')], 'b'), /holds the boundary/);
  });
});
