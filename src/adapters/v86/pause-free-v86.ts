import { PauseFreeTime, type PauseFreeTimeOptions } from "../../machine/pause-free-time.ts";

/**
 * Loads v86 so that its guest never notices the host pausing (docs/architecture.md, "Host stalls").
 *
 * v86 keeps the guest's time with `performance.now()` (PIT, APIC, RTC periodic interrupts, TSC, and
 * the `nowMs` its timer hook passes the UHCI adapter), and binds it once, when its module is first
 * evaluated (`microtick = performance.now.bind(performance)` in libv86). There is no option to give it
 * another clock, so for the evaluation only `performance.now` is the pause-free one, and the real one is
 * put back before this resolves: everything else in the page or process keeps real time.
 *
 * This must be the first evaluation of v86 in the realm (page, Worker, Node process): a module already
 * evaluated keeps the clock it bound. Pass the same `time` to {@link attachUhciToV86} (`time`), so
 * the adapter's frame grid runs on the guest's clock and holds it on a leash: on a slow host (v86's
 * timer hook, where USB frames run, far apart while the guest runs on) the guest's clock waits for the
 * bus instead of the bus replaying the lag as a host pause:
 *
 * ```ts
 * const { module: { V86 }, time } = await loadV86WithPauseFreeTime(() => import("v86"));
 * const emulator = new V86({ ... });
 * emulator.add_listener("emulator-ready", () => attachUhciToV86(emulator, { time }));
 * ```
 *
 * `time` keeps a light heartbeat (every 5 ms) for the life of the page or process; `time.stats` counts
 * the pauses taken out (`pauses`, `removedMs`) and the time the guest waited for the bus (`heldMs`).
 * Every emulator of the realm shares it: a leash held by one holds them all (each adapter releases its
 * own while its emulator is stopped).
 */
export async function loadV86WithPauseFreeTime<M>(
  importer: () => Promise<M>,
  time: PauseFreeTime | PauseFreeTimeOptions = {},
): Promise<{ module: M; time: PauseFreeTime }> {
  const clock = time instanceof PauseFreeTime ? time : new PauseFreeTime(time);
  const perf = globalThis.performance;
  const own = Object.getOwnPropertyDescriptor(perf, "now");
  Object.defineProperty(perf, "now", { value: clock.now, configurable: true, writable: true });
  try {
    return { module: await importer(), time: clock };
  } finally {
    // Back to the real clock: an own property that was there before, or the prototype's method.
    if (own === undefined) Reflect.deleteProperty(perf, "now");
    else Object.defineProperty(perf, "now", own);
  }
}
