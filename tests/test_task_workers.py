"""Tasks graded two at a time in forked workers give what one-by-one grading gives."""

from __future__ import annotations

import os

from autograder.task_workers import map_in_workers


def test_results_come_back_in_order_from_every_worker():
    parent = os.getpid()
    results = map_in_workers(lambda n: (n * n, os.getpid() != parent), list(range(9)), 2)
    assert [value for value, _ in results] == [n * n for n in range(9)]
    assert all(in_worker for _, in_worker in results)


def test_an_item_whose_worker_died_is_graded_here():
    parent = os.getpid()

    def grade(n: int) -> int:
        if n == 3 and os.getpid() != parent:
            os._exit(7)  # the worker dies before sending this result
        return n + 100

    assert map_in_workers(grade, list(range(6)), 2) == [n + 100 for n in range(6)]


def test_one_worker_or_one_item_grades_in_this_process():
    parent = os.getpid()
    assert map_in_workers(lambda n: os.getpid() == parent, [1, 2], 1) == [True, True]
    assert map_in_workers(lambda n: os.getpid() == parent, [1], 2) == [True]


def test_a_readable_cancel_fd_stops_the_wait():
    import time

    import pytest

    from autograder.task_workers import Cancelled

    read_end, write_end = os.pipe()
    os.write(write_end, b"x")  # the client has already left
    start = time.monotonic()
    with pytest.raises(Cancelled):
        map_in_workers(lambda n: time.sleep(2) or n, [1, 2, 3], 2, cancel_fd=read_end)
    assert time.monotonic() - start < 1.5
    os.close(read_end)
    os.close(write_end)
    for _ in range(2):  # the workers end by themselves here; reap them
        os.wait()
