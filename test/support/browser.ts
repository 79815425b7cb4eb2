/**
 * Headless Chromium for tests of the status page (playwright-core drives the system Chromium;
 * no browser is downloaded). A missing Chromium fails the test with one line saying what to
 * install: these tests never skip.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.GRAPHRUN_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'artifacts');

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install it with \`apt-get install -y chromium\` (Debian package "chromium"), or set GRAPHRUN_CHROMIUM`);
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

/** Open the status page and wait until it rendered its first snapshot (`body[data-ready]`). */
export async function openStatusPage(browser: Browser, url: string, timeoutMs = 10000): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1920, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  try {
    await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: timeoutMs });
  } catch (err) {
    throw new Error(`status page at ${url} never became ready${errors.length ? ` (page errors: ${errors.join('; ')})` : ''}: ${(err as Error).message.split('\n')[0]}`);
  }
  return page;
}

/** The text of `[data-field=field]` inside the node box of `id`. */
export async function nodeField(page: Page, id: string, field: string): Promise<string> {
  return (await page.locator(`.node[data-node-id="${id}"] [data-field="${field}"]`).textContent()) ?? '';
}

export async function nodeNumber(page: Page, id: string, field: string): Promise<number> {
  const t = await nodeField(page, id, field);
  const n = Number(t);
  if (!Number.isFinite(n)) throw new Error(`node ${id} field ${field} is not a number: ${JSON.stringify(t)}`);
  return n;
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return path.join(ARTIFACTS_DIR, name);
}
