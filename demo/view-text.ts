/**
 * Text the demo page shows, as pure functions (test/demo/view-text.test.ts): what a person reads in the
 * USB tree and the audio table.
 */

/**
 * The drivers the guest bound to a device's interfaces (the agent's `tree` lists one per interface), each
 * named once with how many interfaces it holds: "snd-usb-audio ×3" rather than the name three times,
 * which wrapped the USB tree's cell over two lines (tried headed). Nothing bound: "(none)".
 */
export function driverSummary(drivers: string): string {
  const counts = new Map<string, number>();
  for (const name of drivers.split(/\s+/)) {
    if (name !== "") counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  if (counts.size === 0) return "(none)";
  return [...counts].map(([name, n]) => (n > 1 ? `${name} ×${n}` : name)).join(", ");
}

/** A stream's format in a few characters: "48 kHz mono", "44.1 kHz stereo", "8 kHz × 4". */
export function formatText(rate: number, channels: number): string {
  const kHz = `${Number((rate / 1000).toFixed(3))} kHz`;
  const layout = channels === 1 ? "mono" : channels === 2 ? "stereo" : `× ${channels}`;
  return `${kHz} ${layout}`;
}
