"""Full garbage collections deferred while a run allocates fast: collection under its deadline, judging.

CPython's oldest-generation collection walks every tracked object; it runs whenever the long-lived
heap has grown by a quarter. A 10,000-node run grows it steadily (facts while probing, findings and
checks while judging), so full collections came back every half second and grew to 150-270 ms each:
1.4 s of a 5 s deadline, and each one a turn of the event loop that the deadline's timer waits
behind. Young collections (generations 0 and 1) still run, so short-lived cycles — exceptions and
their tracebacks, finished futures — are freed as before; what reaches the old generation waits for
the first full collection after the last block ends.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

# gc's third threshold counts generation-1 collections between full ones: this many never come in a run.
DEFERRED = 1 << 30

_lock = threading.Lock()
_holders = 0  # blocks open in any thread: the daemon's fleet runs clusters side by side
_saved_old = 0  # the third threshold before the first of them


@contextlib.contextmanager
def full_collections_deferred() -> Iterator[None]:
    """Defer generation-2 collections for the block. Blocks may overlap in any order, across threads:
    the first one in defers, the last one out restores the threshold it found."""
    global _holders, _saved_old
    with _lock:
        if _holders == 0:
            young, middle, _saved_old = gc.get_threshold()
            gc.set_threshold(young, middle, DEFERRED)
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                young, middle, _ = gc.get_threshold()
                gc.set_threshold(young, middle, _saved_old)
