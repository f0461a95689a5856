// `file://` object store: keys are files under a root directory. Writes go to a temp file in the
// same filesystem and are renamed into place, so readers never see a half-written object.
import { createHash, randomUUID } from 'node:crypto';
import { link, mkdir, open, readFile, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { notFound } from './errors.js';
import {
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type PutResult,
  validateKey,
} from './object-store.js';

const TMP_DIR = '.tmp';

export class FileStore implements ObjectStore {
  readonly root: string;
  readonly dir: string;

  constructor(rootUriOrPath: string) {
    this.dir = resolve(rootUriOrPath.startsWith('file://') ? fileURLToPath(rootUriOrPath) : rootUriOrPath);
    this.root = pathToFileURL(this.dir).href;
  }

  private path(key: string): string {
    const p = resolve(this.dir, validateKey(key));
    // validateKey already rejects "..", this guards symlink-free path arithmetic as well.
    if (!p.startsWith(this.dir + sep)) throw new Error(`object key "${key}" escapes ${this.root}`);
    return p;
  }

  uri(key: string): string {
    return pathToFileURL(this.path(key)).href;
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<PutResult> {
    const final = this.path(key);
    const tmpDir = join(this.dir, TMP_DIR);
    await mkdir(tmpDir, { recursive: true });
    await mkdir(dirname(final), { recursive: true });
    const tmp = join(tmpDir, randomUUID());
    try {
      const fh = await open(tmp, 'wx');
      try {
        await fh.writeFile(body);
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (options.sha256Base64) {
        const got = createHash('sha256')
          .update(await readFile(tmp))
          .digest('base64');
        if (got !== options.sha256Base64) throw new Error(`checksum mismatch writing ${this.uri(key)}`);
      }
      if (options.ifNoneMatch) {
        // link() fails with EEXIST instead of replacing: an atomic create-if-absent.
        try {
          await link(tmp, final);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
          throw err;
        }
      } else {
        await rename(tmp, final);
      }
      return 'written';
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      return new Uint8Array(await readFile(this.path(key)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        throw notFound(`object ${this.uri(key)} does not exist`);
      throw err;
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    let fh;
    try {
      fh = await open(this.path(key), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        throw notFound(`object ${this.uri(key)} does not exist`);
      throw err;
    }
    try {
      const buf = new Uint8Array(Math.max(0, end - start));
      const { bytesRead } = await fh.read(buf, 0, buf.length, start);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? { key, size: s.size } : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const e of entries) {
        const p = join(dir, e.name);
        const key = relative(this.dir, p).split(sep).join('/');
        if (key === TMP_DIR) continue;
        if (e.isDirectory()) await walk(p);
        else if (e.isFile() && key.startsWith(prefix)) out.push({ key, size: (await stat(p)).size });
      }
    };
    await walk(this.dir);
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  async delete(key: string): Promise<void> {
    await unlink(this.path(key)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** Temp files left by crashed writers (tests assert there are none after a failure). */
  async pendingTempFiles(): Promise<string[]> {
    return readdir(join(this.dir, TMP_DIR)).catch(() => []);
  }

  /** Creates the root and proves it is writable. */
  async ensureWritable(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const probe = join(this.dir, `.probe-${randomUUID()}`);
    await writeFile(probe, 'ok');
    await unlink(probe);
  }
}
