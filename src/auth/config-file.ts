import { chmodSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import YAML, { isMap, isSeq } from 'yaml';

/**
 * Writes a user's new password hash into the config file (POST /setPassword),
 * keeping everything else, including YAML comments, as it was. The file is
 * replaced atomically so a crash never leaves half a config behind.
 */
export class UserNotInFileError extends Error {
  override name = 'UserNotInFileError';
}

export function setUserPasswordInFile(path: string, user: string, hash: string): void {
  const text = readFileSync(path, 'utf8');
  const updated = extname(path) === '.json' ? updateJson(text, user, hash) : updateYaml(text, user, hash);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, updated, { mode: 0o600 });
    // Keep the original permissions (config files hold secrets).
    chmodSync(tmp, statSync(path).mode & 0o777);
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to clean up
    }
    throw err;
  }
}

function updateJson(text: string, user: string, hash: string): string {
  const doc = JSON.parse(text) as { auth?: { users?: { name?: unknown; password?: unknown }[] } };
  const entry = doc.auth?.users?.find((u) => u.name === user);
  if (!entry) throw new UserNotInFileError(`user ${user} is not in the config file's auth.users`);
  entry.password = hash;
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function updateYaml(text: string, user: string, hash: string): string {
  const doc = YAML.parseDocument(text);
  if (doc.errors.length > 0) throw new Error(`cannot parse the config file: ${doc.errors[0]!.message}`);
  const users = doc.getIn(['auth', 'users']);
  const entry = isSeq(users) ? users.items.find((item) => isMap(item) && item.get('name') === user) : undefined;
  if (!isMap(entry)) throw new UserNotInFileError(`user ${user} is not in the config file's auth.users`);
  entry.set('password', hash);
  return doc.toString();
}
