"""Full collections are deferred for as long as any run is inside a block, and come back after the last."""

from __future__ import annotations

import gc
import threading

from rabbitmq_preflight.heap import DEFERRED, full_collections_deferred


def test_overlapping_blocks_in_two_threads_restore_the_threshold_whatever_order_they_end_in() -> None:
    """The daemon's fleet judges clusters side by side: a block that ends while another is still open
    must neither restore too early nor leave full collections deferred for the life of the process."""
    before = gc.get_threshold()
    first_in, first_may_end, first_ended = (threading.Event() for _ in range(3))
    seen: dict[str, int] = {}

    def first() -> None:
        with full_collections_deferred():
            first_in.set()
            first_may_end.wait(5)
        first_ended.set()

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    with full_collections_deferred():
        first_may_end.set()  # the first block ends while this one is open: not LIFO
        first_ended.wait(5)
        seen["while the second is open"] = gc.get_threshold()[2]
    thread.join(5)
    assert seen == {"while the second is open": DEFERRED}
    assert gc.get_threshold() == before


def test_a_block_left_by_an_exception_restores_the_threshold() -> None:
    before = gc.get_threshold()
    try:
        with full_collections_deferred():
            assert gc.get_threshold()[2] == DEFERRED
            raise KeyError("boom")
    except KeyError:
        pass
    assert gc.get_threshold() == before
