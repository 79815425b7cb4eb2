// A process that writes to an outbox until it is killed, for the outbox crash tests:
//   node --import tsx test/support/outbox-child.ts FILE burst   puts rows in a loop, acks some heads;
//                                                                prints "put KEY ID" / "ack KEY" after each returns
//   node --import tsx test/support/outbox-child.ts FILE hold    opens the file, prints "ready", waits
// Lines go out with writeSync, so a line printed is a call that returned before the kill.
import { writeSync } from 'node:fs';
import { openOutbox, type Priority } from '../../src/outbox/outbox.js';

/** Write all of `text` to stdout before going on (a full pipe answers EAGAIN: try again). */
function say(text: string): void {
  let buf = Buffer.from(text);
  while (buf.length) {
    try {
      buf = buf.subarray(writeSync(1, buf));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
}

const [file, mode] = process.argv.slice(2);
const ob = openOutbox(file);
say('ready\n');
if (mode === 'hold') {
  setInterval(() => {}, 1000);
} else {
  const payload = JSON.stringify({ text: 'x'.repeat(300) });
  let i = 0;
  let held: number[] = [];
  for (;;) {
    let out = '';
    for (let j = 0; j < 20; j++, i++) {
      const key = `e${i}`;
      const r = ob.put('api', { key, stream: `cam${i % 4}`, priority: (i % 3) as Priority, payload });
      if (!r.ok) throw new Error(`put ${key} failed: ${r.reason}`);
      out += `put ${key} ${r.id}\n`;
    }
    say(out);
    // Deliver a little: ack half the heads handed out; the others stay in flight (memory only)
    // until the next round hands them back.
    for (const id of held) ob.release('api', id);
    const rows = ob.ready('api', 4);
    held = rows.slice(2).map((r) => r.id);
    out = '';
    for (const row of rows.slice(0, 2)) {
      ob.ack('api', row.id, `ok-${row.key}`);
      out += `ack ${row.key}\n`;
    }
    if (out) say(out);
  }
}
