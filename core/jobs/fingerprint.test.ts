import { keccak256, toUtf8Bytes } from "ethers";
import { describe, expect, it } from "vitest";
import { canonicalJson, trainingConfigHash } from "./fingerprint.ts";
import { LoraSettings, TrainingSettings } from "./model.ts";

describe("canonicalJson", () => {
  it("sorts keys at every depth, keeps array order, drops undefined", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[3,{"y":2,"z":1}]},"b":1}');
  });
});

describe("trainingConfigHash", () => {
  const lora = LoraSettings.parse({});
  const training = TrainingSettings.parse({});

  it("is keccak256 of the canonical JSON of baseModel id, lora, training and trainer version", () => {
    const expected = keccak256(toUtf8Bytes(canonicalJson({ baseModel: "m", lora, training, trainerVersion: "t/1" })));
    expect(trainingConfigHash({ baseModel: { id: "m" }, lora, training }, "t/1")).toBe(expected);
  });

  it("does not depend on key order but on every value", () => {
    const reordered = Object.fromEntries(Object.entries(training).reverse()) as typeof training;
    const h = trainingConfigHash({ baseModel: { id: "m" }, lora, training }, "t/1");
    expect(trainingConfigHash({ baseModel: { id: "m" }, lora, training: reordered }, "t/1")).toBe(h);
    expect(trainingConfigHash({ baseModel: { id: "m" }, lora, training: { ...training, seed: 2 } }, "t/1")).not.toBe(h);
    expect(trainingConfigHash({ baseModel: { id: "m" }, lora, training }, "t/2")).not.toBe(h);
  });
});
