"""Micro-benchmark of SIDCatalogue.allowed_tokens (and the search around it) at realistic sizes.

Run: python benchmarks/bench_constraints.py [--threads 1] [--reps 5]
Sizes follow the MaskGR reference: n_items=12,000, H=5 (4 levels + dedup digit), K=256, and
M=2,560 rows per call (256 users x 10 beams). Two catalogues: uniform random codes, and a skewed
one (Zipf-like level codes, dedup digit 0 shared by 90% of items). Query rows are real items with a
random subset of positions masked, so every row is consistent with at least one item.
The dense baseline (rows x items candidate mask, then scatter) is timed for comparison.
"""

from __future__ import annotations

import argparse
import time

import torch

from recbole_maskgr.decoding import SIDCatalogue, masked_beam_search


def uniform_catalogue(n: int, H: int, K: int, g: torch.Generator) -> torch.Tensor:
    codes = torch.randint(0, K, (2 * n, H - 1), generator=g).unique(dim=0)  # [~2n, H-1]
    codes = codes[torch.randperm(len(codes), generator=g)[:n]]
    return torch.cat([codes, torch.zeros(n, 1, dtype=torch.long)], 1)  # [n, H]; dedup digit 0


def skewed_catalogue(n: int, H: int, K: int, g: torch.Generator, shared: float = 0.9) -> torch.Tensor:
    """Zipf-like level codes; 10% of items in collision groups (dedup digits 1..), 90% digit 0."""
    zipf = 1.0 / torch.arange(1, K + 1, dtype=torch.float) ** 0.8  # [K]
    n_unique = int(n * shared)
    base = torch.multinomial(zipf, 3 * n * (H - 1), replacement=True, generator=g).view(3 * n, H - 1)
    base = base.unique(dim=0)
    base = base[torch.randperm(len(base), generator=g)[: n_unique + (n - n_unique) // 2]]  # [u, H-1]
    uniq, groups = base[:n_unique], base[n_unique:]
    # Each collision group: 2 items sharing the same level codes, dedup digits 1 and 2.
    coll = groups.repeat_interleave(2, 0)[: n - n_unique]  # [n - n_unique, H-1]
    digit = (torch.arange(len(coll)) % 2 + 1)[:, None]  # [n - n_unique, 1]
    codes = torch.cat([torch.cat([uniq, torch.zeros(n_unique, 1, dtype=torch.long)], 1),
                       torch.cat([coll, digit], 1)])  # [n, H]
    return codes[torch.randperm(n, generator=g)]


def queries(codes: torch.Tensor, M: int, n_fixed: int | None, g: torch.Generator) -> torch.Tensor:
    """Items with a random subset of positions fixed (``n_fixed`` of them, or a random count)."""
    n, H = codes.shape
    rows = codes[torch.randint(0, n, (M,), generator=g)].clone()  # [M, H]
    rank = torch.rand(M, H, generator=g).argsort(1).argsort(1)  # [M, H] random permutation ranks
    k = torch.randint(0, H + 1, (M, 1), generator=g) if n_fixed is None else torch.full((M, 1), n_fixed)
    rows[rank >= k] = -1
    return rows


def dense_allowed(codes: torch.Tensor, K: int, fixed: torch.Tensor, chunk: int = 512) -> torch.Tensor:
    """Baseline: candidate mask [M, n] = AND over fixed positions, then scatter candidates' codes."""
    M, H = fixed.shape
    out = torch.zeros(M, H, K, dtype=torch.bool)
    pos = torch.arange(H)
    for a in range(0, M, chunk):
        f = fixed[a : a + chunk]  # [m, H]
        cand = ((codes[None] == f[:, None]) | (f[:, None] < 0)).all(-1)  # [m, n, H] -> [m, n]
        r, i = cand.nonzero(as_tuple=True)  # [T]
        idx = ((r + a)[:, None] * H + pos) * K + codes[i]  # [T, H]
        out.view(-1)[idx.view(-1)] = True
    return out


def timeit(fn, reps: int) -> float:
    fn()  # warm-up (also fills the pattern cache)
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--n-items", type=int, default=12000)
    ap.add_argument("--H", type=int, default=5)
    ap.add_argument("--K", type=int, default=256)
    ap.add_argument("--M", type=int, default=2560)
    ap.add_argument("--no-dense", action="store_true", help="skip the slow dense baseline")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n, H, K, M = args.n_items, args.H, args.K, args.M
    g = torch.Generator().manual_seed(0)
    print(f"n_items={n} H={H} K={K} M={M} threads={args.threads}")
    for name, codes in [("uniform", uniform_catalogue(n, H, K, g)), ("skewed", skewed_catalogue(n, H, K, g))]:
        t0 = time.perf_counter()
        cat = SIDCatalogue(codes, K)
        build = (time.perf_counter() - t0) * 1e3
        share = (codes[:, -1] == 0).float().mean().item()
        print(f"\n[{name}] build {build:.1f} ms, dedup digit 0 share {share:.2f}")
        print(f"  {'fixed':>6} {'allowed_tokens ms':>18} {'dense baseline ms':>18}")
        for nf in [0, 1, 2, 3, 4, H, None]:
            q = queries(codes, M, nf, g)
            ms = timeit(lambda: cat.allowed_tokens(q), args.reps)
            dense = float("nan")
            if not args.no_dense and nf not in (0, 1):
                want = cat.allowed_tokens(q)
                assert torch.equal(dense_allowed(codes, K, q), want)
                dense = timeit(lambda: dense_allowed(codes, K, q), max(1, args.reps // 2))
            label = "mixed" if nf is None else str(nf)
            print(f"  {label:>6} {ms:18.2f} {dense:18.1f}")

        # Search overhead without a model: U=256 users, B=10, one encoder-like call per step.
        U, B = M // 10, 10
        lp = torch.randn(U, H, K, generator=g).log_softmax(-1)  # [U, H, K]
        fn = lambda ui, t: lp[ui]  # noqa: E731
        for order, steps in [("top-prob", None), ("left-to-right", None), ("top-prob", [3, 2])]:
            for invalid in ["constrained", "projection"]:
                ms = timeit(lambda: masked_beam_search(fn, U, H, K, B, steps=steps, order=order,
                                                       catalogue=cat, invalid=invalid), max(1, args.reps // 2))
                print(f"  search U={U} B={B} {order:13s} steps={steps or [1] * H} {invalid:11s}: {ms:8.1f} ms/batch")


if __name__ == "__main__":
    main()
