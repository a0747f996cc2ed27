// Not the user's: hands test/browser/embed.test.ts the guest's serial console (the bundled guest's
// protocol lines) and what the devices the README's lines made report (the test fills in which).
const serialBytes = [];
emulator.add_listener("serial0-output-byte", (byte) => serialBytes.push(byte));
window.embed = {
  serial: () => serialBytes.splice(0),
  state: () => /* the mix's state */ null,
};
