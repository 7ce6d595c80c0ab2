// src/interop/generated/onnx_subset_pb.ts is committed generated code: it must be what
// scripts/proto/onnx_subset.proto generates with the installed @bufbuild/protoc-gen-es, so an edited
// schema, a hand edit or a generator upgrade without `npm run generate:onnx-proto` fails here.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const buf = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'buf.cmd' : 'buf');

it('the committed ONNX protobuf code is what the schema generates', (ctx) => {
  if (!existsSync(buf)) ctx.skip('no buf binary for this platform in node_modules (devDependency @bufbuild/buf)');
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'generate-onnx-proto.mjs'), '--check'], { cwd: root, encoding: 'utf8' });
  expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
  expect(r.status).toBe(0);
});
