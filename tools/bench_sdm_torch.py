#!/usr/bin/python3
"""bench_sdm_torch.py - the PyTorch side of the Deep-SDM benchmark.

Same architecture as the C model (src/nn/sdm.c; GeoPlant's ResNet-6
ensemble: per modality conv3x3 (no bias) -> BN -> ReLU [-> max-pool 2x2],
global average pool, concat, Linear), same batch sizes, same input
normalisation, eager PyTorch on the CPU (Debian's torch 1.13 with oneDNN),
torch.set_num_threads(THREADS). Prints lines in bench_sdm.c's format so
bench/run_sdm_bench.sh can compute ratios:
  bench=sdm_torch case=train|infer config=NAME species=S batch=B threads=T samples_per_s=X ms_per_batch=Y

Usage: /usr/bin/python3 tools/bench_sdm_torch.py [--config demo|geoplant|geoplant64]
          [--species N] [--train-batch 64] [--infer-batch 256] [--seconds S] [--threads 2]
          [--cases train,infer]
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    "demo": dict(widths=[16, 32, 64, 128], s2=32, species=500),
    "geoplant": dict(widths=[64, 128, 256, 512], s2=128, species=11255),
    "geoplant64": dict(widths=[64, 128, 256, 512], s2=64, species=11255),
}
SHAPES = {"sentinel": (4, None, None), "landsat": (6, 4, 21), "climate": (4, 19, 12)}


class Encoder(nn.Module):
    def __init__(self, cin, widths, pools):
        super().__init__()
        self.pools = pools
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        for w in widths:
            self.convs.append(nn.Conv2d(cin, w, 3, padding=1, bias=False))
            self.bns.append(nn.BatchNorm2d(w))
            cin = w

    def forward(self, x):
        for conv, bn, pool in zip(self.convs, self.bns, self.pools):
            x = F.relu(bn(conv(x)))
            if pool:
                x = F.max_pool2d(x, 2)
        return x.mean(dim=(2, 3))


class SDM(nn.Module):
    def __init__(self, widths, n_species):
        super().__init__()
        pools = [l % 2 == 1 for l in range(len(widths))]
        self.enc = nn.ModuleDict({m: Encoder(SHAPES[m][0], widths, pools) for m in SHAPES})
        self.head = nn.Linear(3 * widths[-1], n_species)
        self.register_buffer("ls_mean", torch.zeros(1, 6, 1, 1))
        self.register_buffer("ls_std", torch.ones(1, 6, 1, 1))
        self.register_buffer("cl_mean", torch.zeros(1, 4, 1, 1))
        self.register_buffer("cl_std", torch.ones(1, 4, 1, 1))

    def forward(self, s2, ls, cl):
        s2 = (s2.float() / 255.0 - 0.5) / 0.5
        ls = torch.nan_to_num((ls - self.ls_mean) / self.ls_std)
        cl = torch.nan_to_num((cl - self.cl_mean) / self.cl_std)
        e = torch.cat([self.enc["sentinel"](s2), self.enc["landsat"](ls), self.enc["climate"](cl)], dim=1)
        return self.head(e)


def batch(B, s2, S, g):
    return (torch.randint(0, 256, (B, 4, s2, s2), generator=g, dtype=torch.uint8),
            torch.randn(B, 6, 4, 21, generator=g), torch.randn(B, 4, 19, 12, generator=g),
            (torch.rand(B, S, generator=g) < 0.08).float())


def time_it(fn, seconds):
    """Fastest iteration (wall seconds) after one warm-up, as bench_sdm.c; also mean CPU seconds."""
    fn()
    times = []
    end = time.perf_counter() + seconds
    c0 = time.process_time()
    while len(times) < 3 or time.perf_counter() < end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), (time.process_time() - c0) / len(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="demo", choices=sorted(CONFIGS))
    ap.add_argument("--species", type=int, default=0)
    ap.add_argument("--train-batch", type=int, default=64)
    ap.add_argument("--infer-batch", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cases", default="train,infer")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    c = CONFIGS[a.config]
    S = a.species or c["species"]
    g = torch.Generator().manual_seed(0)
    model = SDM(c["widths"], S)

    def report(case, B, sec_cpu):
        sec, cpu = sec_cpu
        print(f"bench=sdm_torch case={case} config={a.config} species={S} batch={B} threads={a.threads} "
              f"samples_per_s={B / sec:.1f} ms_per_batch={sec * 1e3:.2f} cpu_ms_per_batch={cpu * 1e3:.2f}", flush=True)

    if "train" in a.cases:
        s2, ls, cl, y = batch(a.train_batch, c["s2"], S, g)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        model.train()

        def step():
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model(s2, ls, cl), y)
            loss.backward()
            opt.step()

        report("train", a.train_batch, time_it(step, a.seconds))
    if "infer" in a.cases:
        s2, ls, cl, _ = batch(a.infer_batch, c["s2"], S, g)
        model.eval()

        def infer():
            with torch.inference_mode():
                model(s2, ls, cl)

        report("infer", a.infer_batch, time_it(infer, a.seconds))


if __name__ == "__main__":
    main()
