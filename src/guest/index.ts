/**
 * # The software guest: a UHCI driver in TypeScript (`uhci/guest`)
 *
 * A host-controller driver modelled on Linux's uhci-hcd, for tests, benchmarks and device authors.
 * It drives a UHCI controller only the way an operating system can: through the controller's 32-byte
 * I/O window, guest physical memory (frame list, QHs, TDs, buffers) and the level of its IRQ line —
 * so it works with any UHCI implementation behind a {@link GuestMachine}.
 *
 * ## Bring-up
 *
 * ```ts
 * import { LevelIrqLine, RamGuestMemory, UhciController, VirtualClock } from "uhci";
 * import { guestMachineFor, TransferStatus, UhciGuestDriver } from "uhci/guest";
 *
 * const memory = new RamGuestMemory(1 << 20);
 * const irq = new LevelIrqLine();
 * const clock = new VirtualClock();
 * const controller = new UhciController({ memory, irq, clock });
 * controller.attach(0, keyboard);                      // any UsbDevice
 *
 * const driver = UhciGuestDriver.start(guestMachineFor({ controller, memory, irq, clock }), {
 *   dmaBase: 0x10000, dmaSize: 0x40000,                 // guest RAM the driver may use
 * });
 * ```
 *
 * `start` does what uhci-hcd does: a 50 ms GRESET pulse, HCRESET until it clears, interrupts off,
 * a port count probe (PORTSC until bit 7 reads 0, i.e. 0xFF7F), SOFMOD 64, FRBASEADD, FRNUM 0, the
 * frame list and skeleton (interrupt QHs of period 1…128, then low-speed control, full-speed control,
 * bulk and a terminating QH; see {@link Schedule}), then USBCMD = RS|CF|MAXP and USBINTR =
 * timeout/CRC|resume|IOC|short packet. A controller that never leaves reset or never runs throws
 * {@link UhciBringUpError}.
 *
 * ## Enumerate and talk to a device
 *
 * ```ts
 * const result = driver.enumerate(0);                  // port 0: debounce, reset, descriptors, address…
 * if (!result.ok) throw new Error(`${result.stage}: ${result.error}`);
 * const device = result.device;                        // configured with its first configuration
 * device.info.descriptor.vendorId;                     // parsed descriptors, strings, raw bytes
 *
 * const status = device.control({ requestType: 0x80, request: 0, value: 0, index: 0, length: 2 });
 * if (status.status === TransferStatus.Stall) { ... } // device errors are values, never exceptions
 *
 * const reports = device.openInterruptIn(0x81, { onReport: (r) => console.log(r) });
 * driver.run(100);                                     // 100 frames pass; reports arrive in order
 * reports.take();                                      // or reports.waitForReports(3)
 *
 * device.bulkOut(0x02, data); device.bulkIn(0x81, 512); // synchronous, with a frame timeout
 * const urb = device.submit(0x81, 64, (r) => ...);     // or queue and let time pass yourself
 * ```
 *
 * Every synchronous call advances machine time 1 ms at a time; whenever the IRQ line is high the
 * driver services it (reads USBSTS, writes it back to clear it, scans every queue's TDs). A transfer
 * that does not finish within its budget (`timeoutMs`, default 1000 frames) is taken off the schedule
 * and ends with `timeout`; one found finished only then (the controller never raised its interrupt)
 * completes normally but late, and the fault is recorded in {@link UhciGuestDriver.anomalies}.
 *
 * ## What the schedule looks like
 *
 * One QH per endpoint; control on the control lists, bulk on the bulk list, interrupt endpoints under
 * the skeleton QH of their interval (rounded down to a power of two). Each transfer is a chain of TDs
 * linked depth-first ending in an inactive dummy TD, C_ERR = 3, IOC on the last TD, SPD on IN TDs
 * (except a bulk/interrupt transfer's last). A short control read is restarted at its status stage; a
 * short or failed bulk/interrupt transfer restarts the queue at the next transfer with fixed-up data
 * toggles. Isochronous TDs go into per-frame chains in front of the skeleton
 * ({@link Schedule.linkIsoTd}).
 *
 * ## Isochronous streams
 *
 * ```ts
 * device.setInterface(1, 1);                                    // the streaming alternate (alt 0: no bandwidth)
 * device.control(setSamplingFrequency(0x01, 44_100));          // UAC 1.0 SET_CUR on the endpoint
 * const out = device.openIsoStream(0x01, {
 *   ...IsoPreset.LinuxPlayback,                                  // 3 URBs × 6 packets (Seed 4×5, LinuxCapture 12×1)
 *   packetSize: (index) => (index % 10 === 9 ? 45 : 44) * 4,    // bytes per packet, the caller's rate control
 *   fill: (buffer, index, frame) => { ... },                     // OUT data, written into the URB's buffer
 * });
 * const mic = device.openIsoStream(0x82, { onData: (data, frame) => { ... } }); // IN, in order, a view
 * driver.run(10_000);
 * out.stats;                                                     // ok / missed / errors, late restarts, lag…
 * out.drain(); out.close();
 * ```
 *
 * Scheduled as uhci-hcd does ({@link IsoStream}): one TD per packet per frame, IOC on each URB's last TD,
 * the first URB 10 frames out, each next one where the last ended (or at the next frame, counted as a
 * late restart, if that has passed), resubmitted from its completion; a TD still Active after its frame
 * is a missed packet (-EXDEV).
 *
 * ## Root hub, suspend and resume
 *
 * `driver.rootHub` polls and drives PORTSC: `status`, `clearChanges`, `waitForConnect`, `reset`,
 * `suspend`/`resume` of one port and `waitForRemoteWakeup` on a suspended port. `driver.suspend()`,
 * `driver.resume()` and `driver.waitForRemoteWakeup()` do global suspend (EGSM) and resume (FGR).
 * Writes to PORTSC never clear a change bit by accident.
 *
 * ## Hubs
 *
 * `driver.openHub(device)` opens an enumerated hub ({@link GuestHub}): `powerOn()`, `portStatus(n)`,
 * `resetPort(n)`, `suspendPort`/`resumePort`, the status change endpoint (`watchChanges`,
 * `waitForChanges`), and `enumerate(n)` for the device on hub port n (1-based, as on the wire), which
 * may be a hub in turn.
 *
 * ## Errors
 *
 * Device and bus errors are {@link TransferStatus} values (`stall`, `crc-timeout`, `babble`,
 * `timeout`…); a controller halt (HSE, HCPE) completes everything with `controller-halted` and is
 * kept in {@link UhciGuestDriver.haltReason}. Only misuse throws: an unknown endpoint, a wrong
 * direction, a released device, an exhausted DMA region.
 */

export * from "./control-request.ts";
export * from "./dma-allocator.ts";
export type { DriverContext, ScanTarget } from "./driver-context.ts";
export * from "./endpoint-queue.ts";
export * from "./enumeration.ts";
export * from "./guest-device.ts";
export * from "./guest-hub.ts";
export * from "./guest-machine.ts";
export * from "./interrupt-in-stream.ts";
export * from "./iso-audio-requests.ts";
export * from "./iso-frame-counter.ts";
export * from "./iso-packet.ts";
export * from "./iso-presets.ts";
export * from "./iso-stats.ts";
export * from "./iso-stream.ts";
export type { IsoUrbCompletion, IsoUrbSubmission } from "./iso-urb.ts";
export { IsoUrbStatus } from "./iso-urb.ts";
export * from "./machine-adapter.ts";
export * from "./registers.ts";
export * from "./root-hub.ts";
export * from "./schedule.ts";
export * from "./schedule-encoding.ts";
export * from "./transfer-result.ts";
export * from "./uhci-guest-driver.ts";
export * from "./urb.ts";
