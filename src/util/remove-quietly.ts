// Best-effort removal for clean-up paths. After a write fails, removing what it left behind may
// fail too (a disk gone read-only: Node 24's rmSync then throws an error with an empty code and a
// garbled message, nodejs/node#65884), and that second failure must never replace the error that
// stopped the write: the user is told why the write failed, and the leftover is taken by the next
// run's clean-up.
import { rmSync } from 'node:fs';

/** Removes `path` (a file, or a folder and everything in it) if it can; whether it is gone. */
export function removeQuietly(path: string): boolean {
  try {
    rmSync(path, { recursive: true, force: true });
    return true;
  } catch {
    return false;
  }
}
