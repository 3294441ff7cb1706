// The shared codec (protocol/codec.ts) names TextDecoder for
// text frames that arrive as bytes. k6 hands text frames to scripts as
// strings, so the codec never constructs one there (it does so lazily, and
// k6 has none). Declared only so the codec type-checks against k6's types.
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
  decode(input?: ArrayBuffer | ArrayBufferView): string;
}
