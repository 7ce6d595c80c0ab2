// The MoE routing ops — argument checks, then the plain loops of transformer-ops.ts / moe-aux.ts —
// for a backend whose tensors' `.data` is their storage: the reference backend, and the WASM backend,
// which runs these O(n·E) steps on the host too (the expert products around them are the heavy part).
import type { IntTensor, Tensor } from '../../ops/types.js';
import {
  checkExpertIds, checkMoePlanArgs, checkMoeRouteArgs, checkMoeRouteBackwardArgs,
} from '../../ops/checks.js';
import * as tx from './transformer-ops.js';

export { moeAuxLossOnHost } from './moe-aux.js';

/** Ops.moeRoute on host storage. */
export function moeRouteOnHost(logits: Tensor, probs: Tensor, lse: Tensor, topIdx: IntTensor, topGate: Tensor,
  n: number, E: number, k: number, renormalize: boolean): void {
  checkMoeRouteArgs(n, E, k, logits, probs, lse, topIdx, topGate);
  tx.moeRoute(logits.data, probs.data, lse.data, topIdx.data, topGate.data, n, E, k, renormalize);
}

/** Ops.moePlan on host storage. */
export function moePlanOnHost(topIdx: IntTensor, n: number, E: number, k: number, capacity: number,
  slot: IntTensor, rowToken: IntTensor, offsets: IntTensor, routed: IntTensor): void {
  checkMoePlanArgs(n, E, k, capacity, topIdx, slot, rowToken, offsets, routed);
  checkExpertIds('moePlan', topIdx.data, n * k, E);
  tx.moePlan(topIdx.data, n, E, k, capacity, slot.data, rowToken.data, offsets.data, routed.data);
}

/** Ops.moeRouteBackward on host storage. */
export function moeRouteBackwardOnHost(probs: Tensor, lse: Tensor, topIdx: IntTensor, topGate: Tensor, dgate: Tensor,
  balanceGrad: Tensor | null, zGrad: number, dlogits: Tensor, n: number, E: number, k: number, renormalize: boolean): void {
  checkMoeRouteBackwardArgs(n, E, k, probs, lse, topIdx, topGate, dgate, balanceGrad, dlogits);
  checkExpertIds('moeRouteBackward', topIdx.data, n * k, E);
  tx.moeRouteBackward(probs.data, lse.data, topIdx.data, topGate.data, dgate.data, balanceGrad?.data ?? null,
    zGrad, dlogits.data, n, E, k, renormalize);
}
