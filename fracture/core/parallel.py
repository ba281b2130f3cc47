"""One function over many images, spread over worker processes, results in input order.

The data stages decode and process each image independently, so they scale
with cores; results come back in the order of the inputs whatever the number
of workers, which keeps every output byte-identical to a one-process run. One
worker runs in this process: no start-up cost, and plain tracebacks.

Workers are forked from a fork server, a fresh single-threaded process that
has imported the mapped function's module once, never from the caller: a
process that has started threads (PyTorch's, OpenCV's) can deadlock its
forked children on a lock some thread held at the fork.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Callable, Iterable, Iterator, TypeVar

from tqdm import tqdm

from fracture.core.params import Section

Item = TypeVar("Item")
Result = TypeVar("Result")
TASKS_PER_WORKER = 16  # chunks per worker: big enough to amortise pickling, small enough to balance the load


def available_cores() -> int:
    """Cores this process may run on (a container's or taskset's limit, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _one_thread_each() -> None:
    """A worker's OpenCV uses its own core only: its thread pool would otherwise oversubscribe the machine."""
    import cv2

    cv2.setNumThreads(1)


def _safe_context(function: Callable) -> multiprocessing.context.BaseContext:
    """A fork server where there is one (Linux, macOS), else spawn.

    The server preloads OpenCV, `function`'s module and every module of this
    package the caller has loaded, so that a worker, which imports the
    caller's main module again, finds them all loaded and starts in
    milliseconds. The preload takes effect when a process first starts its server.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    target = function.func if isinstance(function, partial) else function
    package = __name__.split(".")[0]
    loaded = {name for name in sys.modules if name == package or name.startswith(f"{package}.")}
    context.set_forkserver_preload(sorted(loaded | {"cv2", target.__module__}))
    return context


def worker_count(params: dict) -> int:
    """`base.workers`: processes for the data stages; 0 means one per available core."""
    return Section(params, "base").integer("workers", minimum=0) or available_cores()


def ordered_map(function: Callable[[Item], Result], items: Iterable[Item], workers: int,
                description: str, unit: str = "image") -> Iterator[Result]:
    """`function(item)` for each item, over `workers` processes, yielded in input order with a progress bar.

    Results are yielded as they arrive, so a caller that stores each one (into a
    memory-mapped array, say) never holds them all. `function` must be a
    module-level function (it is pickled to the workers), and should return, not
    raise, what the caller needs to report.
    """
    items = list(items)
    workers = min(workers, len(items))
    if workers <= 1:
        yield from (function(item) for item in tqdm(items, desc=description, unit=unit))
        return
    chunksize = max(1, len(items) // (workers * TASKS_PER_WORKER))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_safe_context(function), initializer=_one_thread_each)
    try:
        yield from tqdm(pool.map(function, items, chunksize=chunksize), total=len(items), desc=description, unit=unit)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a caller that stops early leaves no work running
