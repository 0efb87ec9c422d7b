/** Callers waiting in line for something handed out one at a time, each giving up at its own deadline. */
export class WaitQueue<T> {
  private readonly waiting: { resolve(value: T): void; reject(err: Error): void }[] = [];

  get length(): number {
    return this.waiting.length;
  }

  /** Resolves when `hand` gives this caller a value; rejects with `onTimeout()` at `deadline` (ms epoch, Infinity for never). */
  wait(deadline: number, onTimeout: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = {
        resolve: (value: T) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.waiting.push(waiter);
      if (Number.isFinite(deadline)) {
        timer = setTimeout(
          () => {
            const at = this.waiting.indexOf(waiter);
            if (at >= 0) this.waiting.splice(at, 1);
            reject(onTimeout());
          },
          Math.max(0, deadline - Date.now()),
        );
        timer.unref();
      }
    });
  }

  /** Gives `value` to the caller waiting longest; false when nobody waits. */
  hand(value: T): boolean {
    const next = this.waiting.shift();
    next?.resolve(value);
    return next !== undefined;
  }

  /** Fails the caller waiting longest, if any. */
  failNext(err: Error): void {
    this.waiting.shift()?.reject(err);
  }

  failAll(err: Error): void {
    for (const waiter of this.waiting.splice(0)) waiter.reject(err);
  }
}
