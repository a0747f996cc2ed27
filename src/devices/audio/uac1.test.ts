import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  AudioRequest,
  audioRequestName,
  MAX_SAMPLE_FREQUENCY,
  readSampleFrequency,
  SAMPLE_FREQUENCY_BYTES,
  writeSampleFrequency,
} from "./uac1.ts";

describe("UAC1 codes", () => {
  it("a sampling frequency is 3 bytes, least significant first (UAC1 5.2.3.2.3.1)", () => {
    assert.equal(SAMPLE_FREQUENCY_BYTES, 3);
    // 44 100 Hz = 0x00AC44: the bytes a SET_CUR(SAMPLING_FREQ_CONTROL) data stage carries.
    assert.deepEqual(writeSampleFrequency(44_100, [0, 0, 0]), [0x44, 0xac, 0x00]);
    assert.equal(readSampleFrequency(Uint8Array.of(0x80, 0xbb, 0x00)), 48_000);
    const out = new Uint8Array(8).fill(0xee);
    writeSampleFrequency(MAX_SAMPLE_FREQUENCY, out, 2);
    assert.deepEqual([...out], [0xee, 0xee, 0xff, 0xff, 0xff, 0xee, 0xee, 0xee], "writes 3 bytes, no more");
    assert.equal(readSampleFrequency(out, 2), MAX_SAMPLE_FREQUENCY);
    for (const hz of [8000, 11_025, 22_050, 96_000, 1, 0]) {
      assert.equal(readSampleFrequency(writeSampleFrequency(hz, new Uint8Array(3))), hz);
    }
  });

  it("reads missing bytes as 0 rather than NaN", () => {
    assert.equal(readSampleFrequency([0x40, 0x1f]), 8000);
  });

  it("names requests as the spec writes them (UAC1 A.9)", () => {
    assert.equal(audioRequestName(AudioRequest.SetCur), "SET_CUR");
    assert.equal(audioRequestName(AudioRequest.GetRes), "GET_RES");
    assert.equal(audioRequestName(0x42), "0x42");
  });
});
