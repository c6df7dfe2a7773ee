// Starts the real livedash binary on an ephemeral loopback port with a temporary media folder.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from './chromium.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const LIVEDASH_BIN = process.env.LIVEDASH_BIN || join(root, 'target', 'debug', 'livedash');

/** Starts livedash with `args`; resolves once it logs its address. */
export async function startServer(args = [], { timeoutMs = 30_000 } = {}) {
  const mediaDir = mkdtempSync(join(tmpdir(), 'livedash-media-'));
  // RTMP on a free loopback port too, unless the test chose (the default 1935 may be taken).
  const rtmp = args.includes('--rtmp-bind') ? [] : ['--rtmp-bind', '127.0.0.1:0'];
  const child = spawn(LIVEDASH_BIN, ['--bind', '127.0.0.1:0', ...rtmp, '--media-dir', mediaDir, ...args], {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "info" },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const origin = await new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`livedash did not start:\n${log}`)), timeoutMs);
    child.stderr.on('data', (data) => {
      log += data;
      if (process.env.LIVEDASH_SERVER_LOG) process.stderr.write(data);
      const match = /listening on (http:\/\/[0-9.:]+)/.exec(log);
      if (match) { clearTimeout(timer); resolvePromise(match[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`livedash exited (${code}):\n${log}`)); });
  });
  // The page must be a secure context for getUserMedia: http://localhost is, http://127.0.0.1 may not be.
  const url = origin.replace('127.0.0.1', 'localhost');
  // Logged before the HTTP address.
  const rtmpMatch = /listening on rtmp:\/\/([0-9.:]+)/.exec(log);
  return {
    url,
    /** `rtmp://127.0.0.1:PORT/live`, when RTMP is on. */
    rtmpUrl: rtmpMatch ? `rtmp://${rtmpMatch[1]}/live` : null,
    mediaDir,
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(mediaDir, { recursive: true, force: true });
    },
  };
}

/** A browser and a server (started with `args`) for one test `t`, both closed when it ends. */
export async function browserAndServer(t, args = []) {
  const browser = await launchBrowser();
  const server = await startServer(args);
  t.after(async () => {
    await browser.close();
    await server.stop();
  });
  return { browser, server };
}
