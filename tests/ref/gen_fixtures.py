#!/usr/bin/python3
"""gen_fixtures.py - PyTorch reference fixtures for the C neural-network code.

Writes tests/ref/fixtures/<op>_<case>.bin with Debian's torch 1.13
(/usr/bin/python3). Each fixture is a file in the project's own model format
(include/gpn/ckpt.h, docs/formats.md "Model files"): kind "gpn-fixture", the
op and its dimensions as the config JSON, then named fp32 tensors: inputs,
parameters, forward outputs, the upstream gradient and every input and
parameter gradient (llm.c's write_state). Shapes are small and awkward on
purpose (batch 1 and 3, odd channels, odd H and W, 1x1 maps), seeds fixed.

The whole-model fixture is two files: sdm_small.model (kind "gpn-sdm", a
model exported from a PyTorch twin of the architecture, loadable by
gpn_sdm_load) and sdm_small.bin (inputs, eval and train logits, parameter
gradients, and the loss curves of 10 SGD and 10 AdamW steps).

Usage: /usr/bin/python3 tests/ref/gen_fixtures.py [OUTDIR]
"""
import json
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
DTYPES = {np.dtype(np.float32): 1, np.dtype(np.int32): 2, np.dtype(np.uint8): 3,
          np.dtype(np.int64): 4, np.dtype(np.float64): 5}


# ==== the model file format (writer) ========================================

def align(x, a=64):
    return (x + a - 1) // a * a


def write_ckpt(path, kind, config, tensors):
    """tensors: list of (name, numpy array); written little-endian, C order."""
    kind_b = kind.encode()
    cfg_b = (config if isinstance(config, str) else json.dumps(config, separators=(",", ":"))).encode()
    arrays = []
    for name, a in tensors:
        a = np.ascontiguousarray(a)
        if a.dtype not in DTYPES:
            raise ValueError(f"{name}: dtype {a.dtype}")
        arrays.append((name, a.astype(a.dtype.newbyteorder("<"), copy=False)))
    dir_b = bytearray()
    off = 0
    offsets = []
    for name, a in arrays:
        nb = a.nbytes
        off = align(off)
        offsets.append(off)
        dir_b += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BB", DTYPES[a.dtype.newbyteorder("=")], a.ndim)
        dir_b += b"".join(struct.pack("<Q", s) for s in a.shape)
        dir_b += struct.pack("<QQ", off, nb)
        off += nb
    dir_off = 64 + len(kind_b) + len(cfg_b)
    data_off = align(dir_off + len(dir_b))
    total = data_off + align(off) + 8
    buf = bytearray(total)
    struct.pack_into("<8sIIQIIQQQQ", buf, 0, b"GPNMODL\0", 1, 64, total, len(arrays), len(kind_b), len(cfg_b),
                     dir_off, data_off, 0)
    buf[64:64 + len(kind_b)] = kind_b
    buf[64 + len(kind_b):dir_off] = cfg_b
    buf[dir_off:dir_off + len(dir_b)] = dir_b
    for (name, a), o in zip(arrays, offsets):
        buf[data_off + o:data_off + o + a.nbytes] = a.tobytes()
    struct.pack_into("<I4s", buf, total - 8, zlib.crc32(bytes(buf[:total - 8])) & 0xFFFFFFFF, b"GPNE")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(buf)
    os.replace(tmp, path)


def f32(t):
    return t.detach().cpu().numpy().astype(np.float32)


def fixture(op, case, dims, tensors):
    path = os.path.join(OUT, f"{op}_{case}.bin")
    write_ckpt(path, "gpn-fixture", dict(op=op, case=case, **dims), [(n, f32(t) if torch.is_tensor(t) else t) for n, t in tensors])
    print(f"{path}: {os.path.getsize(path)} bytes")


# ==== kernels ===============================================================

def gen_conv(case, N, C, H, W, OC, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, C, H, W, generator=g, dtype=torch.float64).float().requires_grad_()
    w = (torch.randn(OC, C, 3, 3, generator=g) * 0.3).requires_grad_()
    b = torch.randn(OC, generator=g).requires_grad_()
    out = F.conv2d(x, w, b, stride=1, padding=1)
    dout = torch.randn(out.shape, generator=g)
    out.backward(dout)
    fixture("conv3x3", case, dict(N=N, C=C, H=H, W=W, OC=OC),
            [("x", x), ("weight", w), ("bias", b), ("out", out), ("dout", dout), ("dx", x.grad),
             ("dweight", w.grad), ("dbias", b.grad)])


def gen_bn(case, N, C, H, W, seed):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(N, C, H, W, generator=g) * 2 + 0.5).requires_grad_()
    bn = nn.BatchNorm2d(C, eps=1e-5, momentum=0.1)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(C, generator=g) + 0.5)
        bn.bias.copy_(torch.randn(C, generator=g))
        bn.running_mean.copy_(torch.randn(C, generator=g) * 0.1)
        bn.running_var.copy_(torch.rand(C, generator=g) + 0.5)
    rm0, rv0 = bn.running_mean.clone(), bn.running_var.clone()
    bn.eval()
    out_eval = bn(x)
    bn.train()
    out = bn(x)
    dout = torch.randn(out.shape, generator=g)
    out.backward(dout)
    fixture("batchnorm", case, dict(N=N, C=C, H=H, W=W, eps=1e-5, momentum=0.1),
            [("x", x), ("gamma", bn.weight), ("beta", bn.bias), ("running_mean0", rm0), ("running_var0", rv0),
             ("out", out), ("out_eval", out_eval), ("running_mean", bn.running_mean), ("running_var", bn.running_var),
             ("dout", dout), ("dx", x.grad), ("dgamma", bn.weight.grad), ("dbeta", bn.bias.grad)])


def gen_relu(case, n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g)
    x = torch.where(x.abs() < 0.05, x.sign() * 0.05 + x, x).requires_grad_()  # away from the kink
    out = F.relu(x)
    dout = torch.randn(n, generator=g)
    out.backward(dout)
    fixture("relu", case, dict(n=n), [("x", x), ("out", out), ("dout", dout), ("dx", x.grad)])


def gen_maxpool(case, N, C, H, W, seed):
    g = torch.Generator().manual_seed(seed)
    # distinct values: no ties, so the arg-max is unambiguous
    x = (torch.randperm(N * C * H * W, generator=g).float() / 7.0 - 3.0).reshape(N, C, H, W).requires_grad_()
    out = F.max_pool2d(x, 2)
    dout = torch.randn(out.shape, generator=g)
    out.backward(dout)
    fixture("maxpool2", case, dict(N=N, C=C, H=H, W=W), [("x", x), ("out", out), ("dout", dout), ("dx", x.grad)])


def gen_avgpool(case, N, C, H, W, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, C, H, W, generator=g).requires_grad_()
    out = x.mean(dim=(2, 3))
    dout = torch.randn(out.shape, generator=g)
    out.backward(dout)
    fixture("avgpool", case, dict(N=N, C=C, H=H, W=W), [("x", x), ("out", out), ("dout", dout), ("dx", x.grad)])


def gen_linear(case, B, IC, OC, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, IC, generator=g).requires_grad_()
    lin = nn.Linear(IC, OC)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(OC, IC, generator=g) * 0.5)
        lin.bias.copy_(torch.randn(OC, generator=g))
    out = lin(x)
    dout = torch.randn(out.shape, generator=g)
    out.backward(dout)
    fixture("linear", case, dict(B=B, IC=IC, OC=OC),
            [("x", x), ("weight", lin.weight), ("bias", lin.bias), ("out", out), ("dout", dout), ("dx", x.grad),
             ("dweight", lin.weight.grad), ("dbias", lin.bias.grad)])


def gen_bce(case, B, C, seed, weighted):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(B, C, generator=g) * 4)
    x[0, 0], x[0, 1] = 40.0, -40.0  # saturated logits
    x.requires_grad_()
    y = (torch.rand(B, C, generator=g) < 0.4).float()
    y[0, 0], y[0, 1] = 0.0, 1.0
    w = (torch.rand(B, C, generator=g) < 0.8).float() if weighted else torch.ones(B, C)
    pw = torch.rand(C, generator=g) * 9 + 1 if weighted else torch.ones(C)
    loss = F.binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=pw, reduction="mean")
    loss.backward()
    fixture("bce", case, dict(B=B, C=C, weighted=int(weighted)),
            [("logits", x), ("targets", y), ("weight", w), ("pos_weight", pw), ("loss", loss.reshape(1)),
             ("dlogits", x.grad)])


def gen_optim(case, kind, n, steps, seed, **hp):
    g = torch.Generator().manual_seed(seed)
    p0 = torch.randn(n, generator=g)
    p = nn.Parameter(p0.clone())
    opt = torch.optim.SGD([p], **hp) if kind == "sgd" else torch.optim.AdamW([p], **hp)
    grads, after = [], []
    for _ in range(steps):
        gr = torch.randn(n, generator=g)
        grads.append(gr)
        p.grad = gr.clone()
        opt.step()
        after.append(p.detach().clone())
    fixture(kind, case, dict(n=n, steps=steps, **hp),
            [("params0", p0), ("grads", torch.stack(grads)), ("params", torch.stack(after))])


# ==== the whole model =======================================================

MODS = ["sentinel", "landsat", "climate"]


class Encoder(nn.Module):
    """The ResNet-6 encoder: conv3x3 (no bias) -> BN -> ReLU [-> maxpool 2x2] per layer, global average pool."""

    def __init__(self, cin, widths, pools):
        super().__init__()
        self.pools = pools
        layers = []
        for w in widths:
            blk = nn.Module()
            blk.conv = nn.Conv2d(cin, w, 3, padding=1, bias=False)
            blk.bn = nn.BatchNorm2d(w)
            layers.append(blk)
            cin = w
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        for blk, pool in zip(self.layers, self.pools):
            x = F.relu(blk.bn(blk.conv(x)))
            if pool:
                x = F.max_pool2d(x, 2)
        return x.mean(dim=(2, 3))


class SDM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.mods = [m for m in MODS if m in cfg["modalities"]]
        self.enc = nn.ModuleDict({m: Encoder(cfg[m][0], cfg["widths"], cfg["pool"]) for m in self.mods})
        self.head = nn.Linear(len(self.mods) * cfg["widths"][-1], cfg["n_species"])
        for m in ("landsat", "climate"):
            self.register_buffer(f"norm_{m}_mean", torch.zeros(cfg[m][0]))
            self.register_buffer(f"norm_{m}_std", torch.ones(cfg[m][0]))

    def normalise(self, m, x):
        if m == "sentinel":
            return (x.float() / 255.0 - 0.5) / 0.5
        mean = getattr(self, f"norm_{m}_mean").view(1, -1, 1, 1)
        std = getattr(self, f"norm_{m}_std").view(1, -1, 1, 1)
        return torch.nan_to_num((x - mean) / std, nan=0.0, posinf=0.0, neginf=0.0)

    def forward(self, inputs):
        embs = [self.enc[m](self.normalise(m, inputs[m])) for m in self.mods]
        return self.head(torch.cat(embs, dim=1))

    def state_tensors(self):
        """Tensors under the C model's names (sdm.c)."""
        out = []
        for m in self.mods:
            for l, blk in enumerate(self.enc[m].layers):
                out += [(f"enc.{m}.{l}.conv.weight", f32(blk.conv.weight)),
                        (f"enc.{m}.{l}.bn.weight", f32(blk.bn.weight)),
                        (f"enc.{m}.{l}.bn.bias", f32(blk.bn.bias))]
        out += [("head.weight", f32(self.head.weight)), ("head.bias", f32(self.head.bias))]
        for m in self.mods:
            for l, blk in enumerate(self.enc[m].layers):
                out += [(f"enc.{m}.{l}.bn.running_mean", f32(blk.bn.running_mean)),
                        (f"enc.{m}.{l}.bn.running_var", f32(blk.bn.running_var))]
        for m in ("landsat", "climate"):
            if m in self.mods:
                out += [(f"norm.{m}.mean", f32(getattr(self, f"norm_{m}_mean"))),
                        (f"norm.{m}.std", f32(getattr(self, f"norm_{m}_std")))]
        return out


def make_batch(cfg, B, g):
    s = cfg["sentinel"]
    s2 = torch.randint(0, 256, (B, s[0], s[1], s[2]), generator=g, dtype=torch.uint8)
    ls = torch.randn(B, *cfg["landsat"], generator=g) * 30 + 100
    cl = torch.randn(B, *cfg["climate"], generator=g) * 5 + 10
    y = (torch.rand(B, cfg["n_species"], generator=g) < 0.3).float()
    return {"sentinel": s2, "landsat": ls, "climate": cl}, y


SMALL_CFG = {"name": "small", "n_species": 13, "widths": [4, 6, 5, 8], "pool": [0, 1, 0, 1],
             "modalities": MODS, "sentinel": [4, 9, 11], "landsat": [6, 4, 21], "climate": [4, 19, 12],
             "bn_eps": 1e-5, "bn_momentum": 0.1}


def gen_model():
    torch.manual_seed(1234)
    g = torch.Generator().manual_seed(99)
    cfg = SMALL_CFG
    model = SDM(cfg)
    with torch.no_grad():
        model.norm_landsat_mean.copy_(torch.full((6,), 100.0) + torch.randn(6, generator=g))
        model.norm_landsat_std.copy_(torch.full((6,), 30.0) + torch.rand(6, generator=g))
        model.norm_climate_mean.copy_(torch.full((4,), 10.0) + torch.randn(4, generator=g))
        model.norm_climate_std.copy_(torch.full((4,), 5.0) + torch.rand(4, generator=g))
        for m in model.mods:  # non-trivial BN parameters and running statistics
            for blk in model.enc[m].layers:
                blk.bn.weight.copy_(torch.rand(blk.bn.weight.shape, generator=g) + 0.5)
                blk.bn.bias.copy_(torch.randn(blk.bn.bias.shape, generator=g) * 0.2)
                blk.bn.running_mean.copy_(torch.randn(blk.bn.running_mean.shape, generator=g) * 0.2)
                blk.bn.running_var.copy_(torch.rand(blk.bn.running_var.shape, generator=g) + 0.5)
    B = 3
    inputs, y = make_batch(cfg, B, g)
    inputs["landsat"][1, 2, 1, 5] = float("nan")  # a gap, as in real Landsat series
    species = np.arange(100, 100 + cfg["n_species"], dtype=np.int32)
    write_ckpt(os.path.join(OUT, "sdm_small.model"), "gpn-sdm", cfg,
               model.state_tensors() + [("species", species)])
    print(f"{OUT}/sdm_small.model: {os.path.getsize(os.path.join(OUT, 'sdm_small.model'))} bytes")
    state0 = {k: v.clone() for k, v in model.state_dict().items()}

    model.eval()
    with torch.no_grad():
        logits_eval = model(inputs)
    model.train()
    logits_train = model(inputs)
    loss = F.binary_cross_entropy_with_logits(logits_train, y)
    loss.backward()
    grads = [(f"grad.{n}", t) for n, t in model.state_tensors()
             if n.endswith("weight") or n.endswith("bias")]
    named = dict(model.named_parameters())

    def torch_param(cname):
        parts = cname.split(".")
        if parts[0] == "head":
            return named[cname]
        return named[f"enc.{parts[1]}.layers.{parts[2]}.{parts[3]}.{parts[4]}"]

    grad_tensors = [(n, f32(torch_param(n[5:]).grad)) for n, _ in grads]
    running = [(f"after.{n}", t) for n, t in model.state_tensors() if "running" in n]

    # 10 training steps from the same start, with SGD and with AdamW
    curves = {}
    steps_in = [make_batch(cfg, 4, g) for _ in range(10)]
    for kind in ("sgd", "adamw"):
        model.load_state_dict(state0)
        model.train()
        opt = (torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3) if kind == "sgd"
               else torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01))
        losses = []
        for xb, yb in steps_in:
            opt.zero_grad()
            l = F.binary_cross_entropy_with_logits(model(xb), yb, pos_weight=torch.full((cfg["n_species"],), 2.0))
            l.backward()
            opt.step()
            losses.append(l.item())
        curves[kind] = np.array(losses, dtype=np.float32)
        model.eval()
        with torch.no_grad():
            curves[kind + "_eval_logits"] = f32(model(inputs))
    tensors = [("sentinel", inputs["sentinel"].numpy()), ("landsat", f32(inputs["landsat"])),
               ("climate", f32(inputs["climate"])), ("targets", f32(y)),
               ("logits_eval", f32(logits_eval)), ("logits_train", f32(logits_train)),
               ("loss", np.array([loss.item()], dtype=np.float32))] + grad_tensors + running
    tensors += [("steps.sentinel", np.stack([b[0]["sentinel"].numpy() for b in steps_in])),
                ("steps.landsat", np.stack([f32(b[0]["landsat"]) for b in steps_in])),
                ("steps.climate", np.stack([f32(b[0]["climate"]) for b in steps_in])),
                ("steps.targets", np.stack([f32(b[1]) for b in steps_in])),
                ("losses.sgd", curves["sgd"]), ("losses.adamw", curves["adamw"]),
                ("sgd.logits_eval", curves["sgd_eval_logits"]), ("adamw.logits_eval", curves["adamw_eval_logits"])]
    fixture("sdm", "small", dict(B=B, sgd=dict(lr=0.05, momentum=0.9, weight_decay=1e-3),
                                 adamw=dict(lr=3e-3, weight_decay=0.01), pos_weight=2.0), tensors)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    gen_conv("n1", 1, 3, 5, 7, 4, 1)
    gen_conv("n3", 3, 5, 4, 3, 6, 2)
    gen_conv("tiny", 2, 2, 1, 1, 3, 3)
    gen_bn("n3", 3, 5, 3, 5, 4)
    gen_bn("n1", 1, 3, 2, 3, 5)
    gen_relu("n37", 37, 6)
    gen_maxpool("odd", 3, 2, 5, 7, 7)
    gen_maxpool("even", 1, 3, 4, 4, 8)
    gen_avgpool("n3", 3, 5, 3, 4, 9)
    gen_linear("n3", 3, 7, 5, 10)
    gen_linear("n1", 1, 4, 9, 11)
    gen_bce("plain", 3, 7, 12, False)
    gen_bce("weighted", 4, 5, 13, True)
    gen_optim("momentum", "sgd", 17, 3, 14, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)
    gen_optim("nesterov", "sgd", 17, 3, 15, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.0)
    gen_optim("plain", "sgd", 9, 2, 16, lr=0.1)
    gen_optim("default", "adamw", 17, 3, 17, lr=0.01, weight_decay=0.01)
    gen_optim("betas", "adamw", 11, 4, 18, lr=0.003, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)
    gen_model()


if __name__ == "__main__":
    main()
