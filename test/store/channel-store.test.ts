import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { Redis } from 'ioredis';
import { RedisChannelStore } from '../../src/store/redis/channel-store.ts';
import { SqliteChannelStore } from '../../src/store/sqlite/channel-store.ts';
import { openSqlite } from '../../src/store/sqlite/open.ts';
import { redisMissing, startRedis, uniquePrefix, type TestRedis } from '../helpers/redis.ts';
import { channelStoreContract } from './channel-store.contract.ts';

/** The tunnel's ChannelStore contract against both adapters. */
describe('sqlite channel store', () => {
  channelStoreContract(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookah-channels-'));
    const path = join(dir, 'hookah.db');
    const opened = [openSqlite(path)];
    return {
      store: new SqliteChannelStore(opened[0]!),
      another: async () => {
        const db = openSqlite(path);
        opened.push(db);
        return new SqliteChannelStore(db);
      },
      close: async () => {
        for (const db of opened) db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
});

describe('redis channel store', { skip: redisMissing }, () => {
  let server: TestRedis;
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    await server?.close();
  });

  channelStoreContract(async () => {
    const prefix = uniquePrefix();
    const clients: Redis[] = [];
    const open = () => {
      const c = new Redis(server.url);
      clients.push(c);
      return new RedisChannelStore(c, prefix);
    };
    return {
      store: open(),
      another: async () => open(),
      close: async () => {
        for (const c of clients) await c.quit().catch(() => c.disconnect());
      },
    };
  });
});
