"""Concurrent clients against the TF Serving-protocol test server on loopback, for a bounded time.

    .venv/bin/python benchmarks/client_load.py --export-root runs/demo/exports --model recsys \
        [--clients 4] [--seconds 20] [--protocol grpc|rest] [--signature search]

Prints p50/p99 latency, requests/s and errors (must be 0). The server is tests/serving/savedmodel_server.py
(TF Serving's gRPC PredictionService and REST API over the real SavedModel), since the TF Serving
binary cannot be installed on these machines.
"""
import argparse
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--export-root", required=True)
    parser.add_argument("--model", default="recsys")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--protocol", choices=["grpc", "rest"], default="grpc")
    parser.add_argument("--signature", choices=["search", "recommend", "similar_items"], default="search")
    args = parser.parse_args()

    import numpy as np

    from recsys_tf.serving import GrpcClient, RestClient
    from tests.serving.savedmodel_server import SavedModelServer

    queries = ["noise cancelling earbuds", "usb-c charger", "yoga mat non slip", "cast iron skillet", "dog toy"]
    latencies, errors = [], []
    lock = threading.Lock()
    with SavedModelServer(args.export_root, args.model) as server:
        def make():
            if args.protocol == "grpc":
                return GrpcClient(f"127.0.0.1:{server.grpc_port}", args.model, timeout=10)
            return RestClient(f"http://127.0.0.1:{server.rest_port}", args.model, timeout=10)

        def worker(seed):
            client, rng = make(), np.random.default_rng(seed)
            stop = time.time() + args.seconds
            while time.time() < stop:
                start = time.perf_counter()
                try:
                    if args.signature == "search":
                        client.search(queries[rng.integers(len(queries))], k=10)
                    elif args.signature == "recommend":
                        client.recommend(["load-user"], [["SKU000001", "SKU000002"]], k=10)
                    else:
                        client.similar_items(["SKU000001"], k=10)
                    with lock:
                        latencies.append((time.perf_counter() - start) * 1000)
                except Exception as err:  # counted, reported, never hidden
                    with lock:
                        errors.append(repr(err)[:200])

        make().search("warm up", k=10)
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    print(f"protocol={args.protocol} signature={args.signature} clients={args.clients} seconds={elapsed:.1f} "
          f"requests={len(latencies)} rps={len(latencies) / elapsed:.1f} p50_ms={np.percentile(latencies, 50):.1f} "
          f"p99_ms={np.percentile(latencies, 99):.1f} errors={len(errors)}")
    if errors:
        print("first error:", errors[0])
        sys.exit(1)


if __name__ == "__main__":
    main()
