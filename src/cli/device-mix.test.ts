import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsbHeadset } from "../devices/audio/headset.ts";
import { UsbKeyboard } from "../devices/hid/keyboard.ts";
import { UsbTablet } from "../devices/hid/tablet.ts";
import { UsbHub } from "../devices/hub/usb-hub.ts";
import { UsageError } from "./args.ts";
import { MIX_HUB_PORTS, parseDeviceMix } from "./device-mix.ts";

describe("--devices", () => {
  it("puts devices behind a hub in its port order: hub:headset+keyboard+none+tablet", () => {
    const [hub, keyboard] = parseDeviceMix("hub:headset+keyboard+none+tablet,keyboard");
    assert.ok(hub instanceof UsbHub);
    assert.equal(hub.portCount, MIX_HUB_PORTS);
    const behind = hub.downstreamPorts.map((p) => p.device);
    assert.ok(behind[0] instanceof UsbHeadset);
    assert.ok(behind[1] instanceof UsbKeyboard);
    assert.equal(behind[2], null);
    assert.ok(behind[3] instanceof UsbTablet);
    assert.ok(keyboard instanceof UsbKeyboard);
    const [empty] = parseDeviceMix("hub");
    assert.ok(empty instanceof UsbHub && empty.downstreamPorts.every((p) => p.device === null));
  });

  it("refuses an unknown device behind a hub, and more devices than its ports", () => {
    assert.throws(() => parseDeviceMix("hub:keyboard+printer"), UsageError);
    assert.throws(() => parseDeviceMix(`hub:${Array(8).fill("mouse").join("+")}`), /7 ports; got 8/);
  });
});
