#!/usr/bin/env python3
"""Rebuild a handgrad model in PyTorch from its weights, and print its logits.

    python3 examples/torch_rebuild.py runs/my-lstm --ids "3,1,4,1,5;9,2,6,5,3"
    handgrad export runs/my-lstm --format safetensors --out my-lstm.safetensors   # or from one file
    python3 examples/torch_rebuild.py my-lstm.safetensors --ids "3,1,4,1,5;9,2,6,5,3"

A run folder is read at its newest checkpoint (the generation its latest.json names; best/ is a
run folder of its own); its model.safetensors is the same file `export --format safetensors` writes.

The file holds every parameter under handgrad's name (docs/weights.md) and the model's kind and
config in its metadata (`handgrad.kind`, `handgrad.config`). A folder written by
`handgrad export --format hf` for a model without a Hugging Face architecture works too (its
model.safetensors is the same file). Covered: rnn, lstm, gru (both variants) and transformer.

The mapping is the point of this example (see build_recurrent and Transformer below):
  * handgrad stores dense weights [in, out] (y = x·W + b); nn.Linear / nn.LSTM store [out, in],
    so every weight is transposed on the way in;
  * LSTM gate blocks are i, f, g, o and GRU blocks r, z, n in both libraries; handgrad's LSTM and
    RNN have one bias per layer, which goes into bias_ih (bias_hh = 0);
  * the transformer is written out in plain torch ops (pre-norm, causal attention with the fused
    qkv projection, SwiGLU or tanh-GELU MLP, LayerNorm or RMSNorm, learned or sinusoidal positions,
    tied or untied head), since no torch.nn module has exactly these choices.

Prints one JSON line per file: {"file", "kind", "logits": [B][T][V]} computed in the file's
precision (float64 weights give float64 logits), recurrent models from a zero state. Only the
standard library and torch are needed (the safetensors format is read by hand: it is tiny).
"""
import argparse
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "F64": torch.float64}


def read_safetensors(path):
    """{name: tensor}, metadata. The format: u64 header length, JSON header, raw little-endian data."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n :]
    tensors = {}
    for name, t in header.items():
        begin, end = t["data_offsets"]
        if t["dtype"] not in DTYPES:
            raise SystemExit(f"{path}: tensor {name} is {t['dtype']}; handgrad writes F32 or F64")
        flat = torch.frombuffer(bytearray(data[begin:end]), dtype=DTYPES[t["dtype"]])
        tensors[name] = flat.reshape(t["shape"]).clone()
    return tensors, meta


# ---- recurrent models ------------------------------------------------------------------------------


class RecurrentLM(nn.Module):
    """Embedding → nn.RNN / nn.LSTM / nn.GRU (batch first) → Linear, with handgrad's weights."""

    def __init__(self, kind, w, cfg):
        super().__init__()
        V, E, H, L = cfg["vocabSize"], cfg["embed"], cfg["hidden"], cfg["layers"]
        dtype = w["embed.table"].dtype  # built in the file's precision: copying f64 into f32 would round
        self.embed = nn.Embedding(V, E, dtype=dtype)
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
        self.rnn = cls(E, H, num_layers=L, batch_first=True, dtype=dtype)
        self.head = nn.Linear(H, V, dtype=dtype)
        with torch.no_grad():
            self.embed.weight.copy_(w["embed.table"])
            for l in range(L):
                p = f"{kind}.{l}"
                if kind == "gru":
                    ih, bih, hh, bhh = w[f"{p}.Wx"], w[f"{p}.bx"], w[f"{p}.Wh"], w[f"{p}.bh"]
                else:  # one bias: it all goes into bias_ih
                    ih, bih, hh, bhh = w[f"{p}.Wx"], w[f"{p}.b"], w[f"{p}.Wh"], torch.zeros_like(w[f"{p}.b"])
                getattr(self.rnn, f"weight_ih_l{l}").copy_(ih.T)
                getattr(self.rnn, f"weight_hh_l{l}").copy_(hh.T)
                getattr(self.rnn, f"bias_ih_l{l}").copy_(bih)
                getattr(self.rnn, f"bias_hh_l{l}").copy_(bhh)
            self.head.weight.copy_(w["head.W"].T)
            self.head.bias.copy_(w["head.b"])

    def forward(self, ids):
        y, _ = self.rnn(self.embed(ids))
        return self.head(y)


class PaperGRU(nn.Module):
    """handgrad's --gru-variant paper (Cho et al. 2014): the reset gate acts before the product,
        r, z = σ(x·Wrz + brz + h·Urz);  n = tanh(x·Wn + bn + (r⊙h)·Un);  h' = (1−z)⊙n + z⊙h
    (torch.nn.GRU only has the other convention), stepped explicitly."""

    def __init__(self, w, cfg):
        super().__init__()
        self.w, self.cfg = w, cfg

    def forward(self, ids):
        w, H, L = self.w, self.cfg["hidden"], self.cfg["layers"]
        x = w["embed.table"][ids]  # [B,T,E]
        B, T = ids.shape
        for l in range(L):
            p = f"gru.{l}"
            h = torch.zeros(B, H, dtype=x.dtype)
            xrz = x @ w[f"{p}.Wrz"] + w[f"{p}.brz"]
            xn = x @ w[f"{p}.Wn"] + w[f"{p}.bn"]
            ys = []
            for t in range(T):
                rz = torch.sigmoid(xrz[:, t] + h @ w[f"{p}.Urz"])
                r, z = rz[:, :H], rz[:, H:]
                n = torch.tanh(xn[:, t] + (r * h) @ w[f"{p}.Un"])
                h = (1 - z) * n + z * h
                ys.append(h)
            x = torch.stack(ys, dim=1)
        return x @ w["head.W"] + w["head.b"]


# ---- transformer -----------------------------------------------------------------------------------


def sinusoidal(context, dim, dtype):
    """P[p, 2i] = sin(p / 10000^(2i/C)), P[p, 2i+1] = cos(…), as src/layers/positional.ts."""
    P = torch.zeros(context, dim, dtype=torch.float64)
    for i in range(0, dim, 2):
        angle = torch.arange(context, dtype=torch.float64) / math.pow(10000, i / dim)
        P[:, i] = torch.sin(angle)
        if i + 1 < dim:
            P[:, i + 1] = torch.cos(angle)
    return P.to(dtype)


class Transformer(nn.Module):
    """handgrad's decoder-only transformer in plain torch ops: x = E[ids] + P[0:T]; per block
    x += proj(attention(qkv(norm1(x)))), x += ffn(norm2(x)); logits = normF(x)·Wout (or ·Eᵀ)."""

    def __init__(self, w, cfg):
        super().__init__()
        self.w, self.cfg = w, cfg
        dtype = w["embed.table"].dtype
        self.P = w["pos.table"] if cfg["positions"] == "learned" else sinusoidal(cfg["context"], cfg["dModel"], dtype)

    def norm(self, x, prefix):
        w = self.w
        if self.cfg["norm"] == "layernorm":
            return F.layer_norm(x, x.shape[-1:], w[f"{prefix}.gamma"], w[f"{prefix}.beta"], eps=1e-5)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w[f"{prefix}.gamma"]

    def attention(self, h, p):
        w, C, nh = self.w, self.cfg["dModel"], self.cfg["heads"]
        B, T, _ = h.shape
        d = C // nh
        qkv = h @ w[f"{p}.attn.qkv.W"] + w[f"{p}.attn.qkv.b"]  # columns: q | k | v, heads side by side
        q, k, v = (t.reshape(B, T, nh, d).transpose(1, 2) for t in qkv.split(C, dim=-1))  # [B,nh,T,d]
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)
        future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        z = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1) @ v
        z = z.transpose(1, 2).reshape(B, T, C)
        return z @ w[f"{p}.attn.proj.W"] + w[f"{p}.attn.proj.b"]

    def ffn(self, h, p):
        w = self.w
        if self.cfg["ffn"] == "gelu":
            a = F.gelu(h @ w[f"{p}.ffn.W1.W"] + w[f"{p}.ffn.W1.b"], approximate="tanh")
            return a @ w[f"{p}.ffn.W2.W"] + w[f"{p}.ffn.W2.b"]
        return (F.silu(h @ w[f"{p}.ffn.W1.W"]) * (h @ w[f"{p}.ffn.W3.W"])) @ w[f"{p}.ffn.W2.W"]

    def forward(self, ids):
        w, T = self.w, ids.shape[1]
        x = w["embed.table"][ids] + self.P[:T]
        for l in range(self.cfg["layers"]):
            p = f"block{l}"
            x = x + self.attention(self.norm(x, f"{p}.norm1"), p)
            x = x + self.ffn(self.norm(x, f"{p}.norm2"), p)
        h = self.norm(x, "normF")
        return h @ w["embed.table"].T if self.cfg.get("tiedEmbeddings", self.cfg.get("tie")) else h @ w["head.W"]


def rebuild(path):
    """The model in `path` (a .safetensors file or an export folder) as a torch module, and its kind."""
    if os.path.isdir(path):
        pointer = os.path.join(path, "latest.json")
        if os.path.exists(pointer):  # a run folder: its newest checkpoint generation
            with open(pointer, encoding="utf8") as f:
                path = os.path.join(path, json.load(f)["generation"])
        path = os.path.join(path, "model.safetensors")
    w, meta = read_safetensors(path)
    if "handgrad.kind" not in meta:
        raise SystemExit(f"{path}: no handgrad.kind metadata (write the file with 'handgrad export RUN --format safetensors')")
    kind, cfg = meta["handgrad.kind"], json.loads(meta["handgrad.config"])
    if kind in ("rnn", "lstm") or (kind == "gru" and cfg.get("gruVariant", "pytorch") == "pytorch"):
        model = RecurrentLM(kind, w, cfg)
    elif kind == "gru":
        model = PaperGRU(w, cfg)
    elif kind == "transformer":
        model = Transformer(w, cfg)
    else:
        raise SystemExit(f"{path}: this example rebuilds rnn, lstm, gru and transformer, not {kind}")
    return model.eval(), kind


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weights", nargs="+", help=".safetensors files, export folders or run folders written by handgrad")
    ap.add_argument("--ids", required=True, help='token ids, batch rows separated by ";", e.g. "3,1,4;1,5,9"')
    args = ap.parse_args(argv)
    rows = [[int(v) for v in row.split(",")] for row in args.ids.split(";")]
    ids = torch.tensor(rows, dtype=torch.long)
    for path in args.weights:
        model, kind = rebuild(path)
        with torch.no_grad():
            logits = model(ids)
        print(json.dumps({"file": path, "kind": kind, "logits": logits.tolist()}))


if __name__ == "__main__":
    sys.exit(main())
