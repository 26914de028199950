"""Peak memory and time of k-NN prediction at ImageNet scale (synthetic features).

Streams ``knn_predict`` over 1.28M x 2048 training features (``--small``: 100k x 512) for 10k test
points and prints, per row, the peak memory the prediction adds on top of the resident features,
the bound from ``knn_predict``'s docstring, and the time per 1k test points. Each row runs in a fresh
subprocess, so peaks never carry over. GPU: ``torch.cuda.max_memory_allocated``; CPU: the peak
resident set (``VmHWM`` of ``/proc/self/status``, reset through ``/proc/self/clear_refs`` after the
features are generated, where the kernel allows it). ``--legacy`` adds the former algorithm (test
chunks only: a ``test_chunk x N_train`` distance matrix) for comparison.

    python benchmarks/bench_eval_memory.py --small --legacy
    python benchmarks/bench_eval_memory.py --device cpu --dtype float16 --num-test 1000
    python benchmarks/bench_eval_memory.py --device cuda --dtype float16
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

SIZES = {"full": (1_281_167, 2048), "small": (100_000, 512)}
NUM_CLASSES = 1000
BYTES = {"float16": 2, "bfloat16": 2, "float32": 4}


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # resets VmHWM to the current VmRSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def legacy_knn_predict(train_x, train_y, test_x, k, num_classes, chunk_size):
    """The former algorithm: chunks of test points only, each against the whole training set."""
    import torch

    predictions = []
    for start in range(0, len(test_x), chunk_size):
        neighbours = torch.cdist(test_x[start : start + chunk_size], train_x).topk(k, dim=1, largest=False).indices
        votes = torch.zeros(len(neighbours), num_classes, device=train_x.device)
        votes.scatter_add_(1, train_y[neighbours], torch.ones(neighbours.shape, device=train_x.device))
        predictions.append(votes.argmax(dim=1))
    return torch.cat(predictions)


def streaming_bound_bytes(row: dict, num_train: int, dim: int) -> int:
    """``knn_predict``'s docstring bound (compute dtype float32); for legacy, its two largest buffers."""
    compute, stored, k = 4, BYTES[row["dtype"]], row["k"]
    test_part = row["num_test"] * (dim * compute + k * (compute + 8))
    if row["method"] == "legacy":  # whole training set upcast, then one cdist block of test_chunk x N_train
        return test_part + num_train * dim * compute + row["test_chunk"] * num_train * compute
    return (
        test_part + row["train_chunk"] * dim * (stored + 2 * compute) + row["test_chunk"] * row["train_chunk"] * compute
    )


def measure(row: dict) -> dict:
    """One row, in this (fresh) process: generate features, then time and measure one prediction."""
    import torch

    from whitening_ssl.eval import knn_predict

    num_train, dim = SIZES[row["size"]]
    device = torch.device(row["device"])
    train_device = torch.device(row["train_on"])
    gen = torch.Generator(device=train_device).manual_seed(0)
    train_x = torch.empty(num_train, dim, dtype=getattr(torch, row["dtype"]), device=train_device)
    for start in range(0, num_train, 16384):  # float32 noise a slice at a time: no full-size float32 copy
        rows = min(16384, num_train - start)
        train_x[start : start + rows] = torch.randn(rows, dim, generator=gen, device=train_device)
    train_y = torch.randint(0, NUM_CLASSES, (num_train,), generator=gen, device=train_device)
    test_x = torch.randn(row["num_test"], dim, generator=gen, device=train_device).to(device)

    def predict(num_rows=num_train, num_test=row["num_test"]):
        train, labels, test = train_x[:num_rows], train_y[:num_rows], test_x[:num_test]
        if row["method"] == "legacy":
            on_device = train.to(device, torch.float32)
            return legacy_knn_predict(on_device, labels.to(device), test, row["k"], NUM_CLASSES, row["test_chunk"])
        return knn_predict(
            train,
            labels,
            test,
            k=row["k"],
            num_classes=NUM_CLASSES,
            weighting=row["weighting"],
            test_chunk=row["test_chunk"],
            train_chunk=row["train_chunk"],
            device=device,
        )

    predict(num_rows=256, num_test=64)  # warm-up, tiny so that it leaves no cached buffers: kernels, code pages
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    else:
        row["hwm_reset"] = _reset_peak_rss()
        before = _status_kib("VmRSS") * 1024
    start = time.perf_counter()
    predict()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else _status_kib("VmHWM") * 1024
    row.update(
        resident_gb=before / 1e9,
        peak_gb=peak / 1e9,
        added_gb=(peak - before) / 1e9,
        bound_gb=streaming_bound_bytes(row, num_train, dim) / 1e9,
        s_per_1k=seconds / (row["num_test"] / 1000),
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="100k x 512 training features instead of 1.28M x 2048")
    parser.add_argument("--device", default=None, choices=["cuda", "cpu"], help="default: cuda when available")
    parser.add_argument("--dtype", default="float16", choices=sorted(BYTES), help="stored training features")
    parser.add_argument("--num-test", type=int, default=10_000)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--weightings", default="majority,cosine")
    parser.add_argument("--test-chunk", type=int, default=1024)
    parser.add_argument("--train-chunk", type=int, default=16384)
    parser.add_argument("--legacy", action="store_true", help="also the former test-chunk-only algorithm")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(json.loads(args.worker))))
        return

    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    common = dict(
        size="small" if args.small else "full",
        device=args.device,
        dtype=args.dtype,
        num_test=args.num_test,
        k=args.k,
        test_chunk=args.test_chunk,
        train_chunk=args.train_chunk,
    )
    locations = [args.device] + (["cpu"] if args.device != "cpu" else [])  # GPU: also features left on the CPU
    rows = [
        dict(common, method="streaming", weighting=weighting, train_on=location)
        for location in locations
        for weighting in args.weightings.split(",")
    ]
    if args.legacy:
        rows.append(dict(common, method="legacy", weighting="majority", train_on=args.device))

    num_train, dim = SIZES[common["size"]]
    print(
        f"train {num_train} x {dim} {args.dtype}, {args.num_test} test points, k={args.k}, "
        f"test_chunk={args.test_chunk}, train_chunk={args.train_chunk}, device {args.device}"
    )
    print(
        f"{'method':<10}{'weighting':<10}{'train on':<9}{'resident GB':>12}{'peak GB':>9}{'added GB':>10}"
        f"{'formula GB':>12}{'s / 1k test':>13}"
    )
    for row in rows:
        done = subprocess.run([sys.executable, __file__, "--worker", json.dumps(row)], capture_output=True, text=True)
        if done.returncode != 0:
            print(
                f"{row['method']:<10}{row['weighting']:<10}{row['train_on']:<9} failed: "
                f"{(done.stderr.strip().splitlines() or ['exit ' + str(done.returncode)])[-1]}"
            )
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        note = "" if result.get("hwm_reset", True) else "  (VmHWM not resettable: includes generation)"
        print(
            f"{result['method']:<10}{result['weighting']:<10}{result['train_on']:<9}{result['resident_gb']:>12.2f}"
            f"{result['peak_gb']:>9.2f}{result['added_gb']:>10.3f}{result['bound_gb']:>12.3f}"
            f"{result['s_per_1k']:>13.2f}{note}"
        )
    print(
        "resident: in use before the prediction (features, runtime); added = peak - resident; formula: "
        "knn_predict's docstring bound (legacy: float32 copy of the features + one test_chunk x N_train block)"
    )


if __name__ == "__main__":
    main()
