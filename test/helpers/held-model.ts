/** A real model whose next call can be held, to land something (a reload, a client leaving) mid-decision. */
import { WrappedModel } from './wrapped-model.js';

/** The real model, except that the next call waits until the test lets it through. */
export class HeldModel extends WrappedModel {
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  #arrived: (() => void) | undefined;

  /** Holds the next call; resolves once that call has arrived, with a function that lets it through. */
  holdNext(): Promise<() => void> {
    this.#gate = new Promise((resolve) => (this.#open = resolve));
    return new Promise((resolve) => (this.#arrived = () => resolve(this.#open!)));
  }
  override async embed(texts: readonly string[]) {
    const gate = this.#gate;
    this.#gate = undefined;
    if (gate) {
      this.#arrived?.();
      await gate;
    }
    return this.inner.embed(texts);
  }
}

/** One call that reached a GatedModel: its texts, and a way to let it through to the real model. */
export interface GatedCall {
  readonly texts: readonly string[];
  /** Lets the call through; resolves once the real model has answered it. */
  release(): Promise<void>;
}

/** The real model, except that every call waits until the test lets it through (calls in any order). */
export class GatedModel extends WrappedModel {
  readonly calls: GatedCall[] = [];

  override embed(texts: readonly string[]) {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const answered = gate.then(() => this.inner.embed(texts));
    this.calls.push({
      texts: [...texts],
      release: () => {
        open();
        return answered.then(() => undefined);
      },
    });
    return answered;
  }
}
