"""Prometheus answers as the HTTP API gives them, for demand files in tests."""


def vector(rows):
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": labels, "value": [1700000000.0, str(value)]} for labels, value in rows]}}


def answers(rates: dict, window_s: float = 3600.0, queue_us: float = 500.0, compute_us: float = 2000.0,
            memory: list | None = None) -> dict:
    """rates: {(host, model): requests/s}; memory: [(labels, MiB)] rows of instance_memory_mib."""
    count = {k: r * window_s for k, r in rates.items()}
    lab = lambda k: {"host": k[0], "model": k[1]}  # noqa: E731
    out = {"request_rate": vector([(lab(k), r) for k, r in rates.items()]),
           "requests": vector([(lab(k), n) for k, n in count.items()]),
           "queue_us": vector([(lab(k), n * queue_us) for k, n in count.items()]),
           "compute_us": vector([(lab(k), n * compute_us) for k, n in count.items()])}
    if memory is not None:
        out["instance_memory_mib"] = vector(memory)
    return out
