/**
 * History ids in Naas's format, `%Y%m%d%H%M%S%f` in local time (20 digits: 2020-10-08
 * 10:12:21.879662 is `20201008101221879662`). They sort by time, and this process never issues
 * the same one twice: an id that would not be greater than the last is bumped by a microsecond.
 */
let last = 0n;

function format(microsSinceEpoch: bigint): string {
  const date = new Date(Number(microsSinceEpoch / 1000n));
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  const micros = Number(microsSinceEpoch % 1_000_000n);
  return (
    `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}` +
    `${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}${pad(micros, 6)}`
  );
}

export function newHisto(now: number = Date.now()): string {
  // Millisecond clock plus a sub-millisecond part from the monotonic clock, in microseconds.
  let micros = BigInt(now) * 1000n + BigInt(Math.floor((performance.now() % 1) * 1000));
  if (micros <= last) micros = last + 1n;
  last = micros;
  return format(micros);
}

export const HISTO_PATTERN = /^\d{20}$/;

export function isHisto(value: string): boolean {
  return HISTO_PATTERN.test(value);
}
