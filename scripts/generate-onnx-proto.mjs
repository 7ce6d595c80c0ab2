#!/usr/bin/env node
// Generates src/interop/generated/onnx_subset_pb.ts (the ONNX protobuf messages the exporter writes,
// for @bufbuild/protobuf) from scripts/proto/onnx_subset.proto, with the devDependencies
// @bufbuild/buf (the .proto compiler) and @bufbuild/protoc-gen-es (the TypeScript generator).
// `npm run generate:onnx-proto`.
//
// The output is committed, so neither tool is needed at run time or on a consumer's install: the
// package depends on @bufbuild/protobuf alone (no install scripts, no dependencies of its own).
//
// scripts/proto/onnx_subset.proto is our own schema: the part of the ONNX IR that the exporter
// writes, with the field numbers of the ONNX specification. To write more of the format, declare it
// there and run this script.
//
//   node scripts/generate-onnx-proto.mjs          write the generated file
//   node scripts/generate-onnx-proto.mjs --check  exit 1 if the committed file is not what the schema generates
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = join(root, 'scripts', 'proto');
const SCHEMA = 'onnx_subset';
const target = join(root, 'src', 'interop', 'generated', `${SCHEMA}_pb.ts`);
const bin = join(root, 'node_modules', '.bin');
const check = process.argv.includes('--check');

const HEADER = `// GENERATED FILE: do not edit. Made by scripts/generate-onnx-proto.mjs from
// scripts/proto/${SCHEMA}.proto (handgrad's subset of the ONNX IR) with @bufbuild/buf +
// @bufbuild/protoc-gen-es. Regenerate with \`npm run generate:onnx-proto\` after changing the schema
// or upgrading @bufbuild/protoc-gen-es.
`;

/** The generated TypeScript, with our header. */
export function generate() {
  const buf = join(bin, process.platform === 'win32' ? 'buf.cmd' : 'buf');
  if (!existsSync(buf)) throw new Error(`generate-onnx-proto: ${buf} is missing (npm install the devDependencies)`);
  const out = mkdtempSync(join(tmpdir(), 'handgrad-onnx-proto-'));
  try {
    const template = {
      version: 'v2',
      plugins: [{ local: 'protoc-gen-es', out, opt: ['target=ts', 'import_extension=js'] }],
    };
    execFileSync(buf, ['generate', protoDir, '--template', JSON.stringify(template)], {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
      // protoc-gen-es is found on PATH, from our node_modules/.bin.
      env: { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` },
    });
    return HEADER + readFileSync(join(out, `${SCHEMA}_pb.ts`), 'utf8');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = generate();
  if (check) {
    const committed = existsSync(target) ? readFileSync(target, 'utf8') : '';
    if (committed !== text) {
      console.error(`${target} is not what scripts/proto/${SCHEMA}.proto generates: run npm run generate:onnx-proto`);
      process.exit(1);
    }
  } else {
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, text);
    console.log(`wrote ${target}`);
  }
}
