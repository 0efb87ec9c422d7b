/**
 * Small binary payloads built in code for response tests: a decodable 2×2 PNG, a 1×1 GIF and a
 * JPEG marker stream, each also carrying all 256 byte values (in a private PNG chunk, a GIF
 * comment, a JPEG COM segment) so that a byte-exact round trip covers every byte.
 */
import { crc32, deflateSync } from "node:zlib";

/** The bytes 0x00..0xff, in order. */
export const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A 2×2 RGB PNG (red, green / blue, white) with a private `nbHk` chunk of all byte values. */
export function pngBytes(): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(2, 0); // width
  header.writeUInt32BE(2, 4); // height
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter method, no interlace
  const rows = Buffer.from([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 255, 255, 255]); // filter byte + 2 pixels, twice
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", header),
    pngChunk("nbHk", ALL_BYTES),
    pngChunk("IDAT", deflateSync(rows)),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

/** A 1×1 GIF89a with a comment extension holding all byte values. */
export function gifBytes(): Buffer {
  return Buffer.concat([
    Buffer.from("GIF89a", "latin1"),
    Buffer.from([1, 0, 1, 0, 0x80, 0, 0]), // 1×1, 2-entry global colour table
    Buffer.from([0, 0, 0, 255, 255, 255]),
    Buffer.from([0x21, 0xfe, 255]), // comment extension: a 255-byte sub-block, then a 1-byte one
    ALL_BYTES.subarray(0, 255),
    Buffer.from([1, 255, 0]),
    Buffer.from([0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0]), // image descriptor
    Buffer.from([2, 1, 0x44, 0, 0x3b]), // LZW data for one pixel, trailer
  ]);
}

/** A JPEG marker stream: SOI, a JFIF APP0, a COM segment of all byte values, EOI. */
export function jpegBytes(): Buffer {
  const comment = Buffer.concat([Buffer.from([0xff, 0xfe, 0x01, 0x02]), ALL_BYTES]); // length 258
  const jfif = Buffer.from([0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), jfif, comment, Buffer.from([0xff, 0xd9])]);
}
