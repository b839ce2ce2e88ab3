/**
 * A FIFO with a hard cap: when full, pushing drops the oldest item. It holds decisions waiting to be
 * written, so a database that stays unwritable costs bounded memory instead of the whole process.
 */
export class BoundedQueue<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.items.length - this.head;
  }

  /** Adds an item; returns how many old items were dropped to make room (0 or 1). */
  push(item: T): number {
    let dropped = 0;
    if (this.size >= this.capacity) {
      this.items[this.head++] = undefined;
      dropped = 1;
    }
    this.items.push(item);
    this.compact();
    return dropped;
  }

  /** The items, oldest first, without removing them. */
  peekAll(): T[] {
    return this.items.slice(this.head) as T[];
  }

  /** Removes the `count` oldest items (those a flush has just written). */
  discard(count: number): void {
    this.head = Math.min(this.head + count, this.items.length);
    this.compact();
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }

  /** Drop the consumed prefix now and then, so dequeueing stays O(1) amortised and memory is returned. */
  private compact(): void {
    if (this.head === this.items.length) this.clear();
    else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
