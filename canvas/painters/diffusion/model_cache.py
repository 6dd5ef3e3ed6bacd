"""Loaded models by name, least recently used first, bounded by a count and by memory, so
switching back to a model is a dictionary look-up, not a load.

    cache = ModelCache(load=load_painter, size_of=model_bytes, keep=2, budget=None, room=device_room)
    painter = cache.get("sd15/realistic", waiting=report)    # loads it (once, however many ask)
    painter = cache.get("sd15/realistic")                    # instant

Loading runs with no lock held: a job painting with a loaded model never waits for
another model to load (each loaded model has its own lock, in its painter). Two callers
wanting the same model wait for one load. A caller that may give up (`check`, its job's
cancel) has the load run in a thread of its own and only waits for it, so a cancel ends
the wait at once: the load itself goes on into the cache. It cannot be stopped halfway
(diffusers and torch read a file to its end), other jobs may be waiting for the same
model, and the user who cancelled usually asks for the same model again; a load nobody
waits for any more costs what it would have cost anyway, and its model is kept like any
other, least recently used first. Before a load, the least
recently used models are dropped until there is room: fewer than `keep`, the bytes of
those kept plus the new one's expected size within `budget`, and (on a GPU) the device's
free memory enough for it. A dropped model a window is still painting with lives on until
that window ends (its painter holds it); the cache just stops handing it out.

Generic and torch-free: the painter gives it the loader and the ways to measure.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

T = TypeVar("T")
# Told to each caller that waits for a load: ("loading", name) when it starts waiting,
# ("loaded", name) when the model is there (or the load failed: the error follows); a
# caller that gave up hears nothing more.
Waiting = Callable[[str, str], None]
# Raises to stop waiting (a job's cancel token's raise_if_cancelled); looked at every POLL s.
Check = Callable[[], None]
POLL = 0.05


@dataclass
class _Kept(Generic[T]):
    model: T
    size: int  # bytes, measured once loaded


class ModelCache(Generic[T]):
    def __init__(self, load: Callable[[str], T], size_of: Callable[[T], int], keep: int | None = 2,
                 budget: int | None = None, room: Callable[[], int | None] | None = None,
                 expected: Callable[[str], int] | None = None, dropped: Callable[[T], None] | None = None) -> None:
        """`load(name)` builds a model; `size_of(model)` its bytes. Bounds: `keep` models at
        most (None: no count limit), `budget` bytes at most (None: none), and `room()`: bytes
        free on the device now (None: not known, no limit). `expected(name)`: bytes a model
        will take before it loads (its file's size). `dropped(model)`: called for each model
        the cache lets go (to return the device's memory)."""
        if keep is not None and keep < 1:
            raise ValueError(f"keep at least 1 model loaded, got {keep}")
        self.load, self.size_of, self.keep, self.budget = load, size_of, keep, budget
        self.room, self.expected, self.dropped = room, expected, dropped
        self._kept: OrderedDict[str, _Kept[T]] = OrderedDict()
        self._loading: dict[str, Future[T]] = {}
        self._lock = threading.Lock()  # the dictionaries only: never held while a model loads
        self.loads = 0  # models loaded so far (evicted and loaded again counts again)

    def get(self, name: str, waiting: Waiting | None = None, check: Check | None = None) -> T:
        """The model `name`, loaded now if it is not kept; what `load` raises otherwise.
        With `check`, the load runs in a thread of its own and what `check` raises ends
        the wait (the load goes on, into the cache)."""
        with self._lock:
            kept = self._kept.get(name)
            if kept is not None:
                self._kept.move_to_end(name)
                return kept.model
            future = self._loading.get(name)
            owner = future is None
            if owner:
                future = self._loading[name] = Future()
                dropped = self._make_room(name)
        assert future is not None
        if waiting is not None:
            waiting("loading", name)
        if owner:
            self._release(dropped)
            if check is None:
                try:
                    return self._load(name, future)
                finally:
                    if waiting is not None:
                        waiting("loaded", name)
            threading.Thread(target=self._load_aside, args=(name, future), name=f"load {name}", daemon=True).start()
        while True:
            if check is not None:
                check()  # gave up: no "loaded" for this caller, the load carries on
            try:
                model = future.result(timeout=POLL if check is not None else None)
            except FutureTimeout:
                continue
            except BaseException:
                if waiting is not None:  # the load failed: tell, then raise its error
                    waiting("loaded", name)
                raise
            break
        if waiting is not None:
            waiting("loaded", name)
        return model

    def __contains__(self, name: str) -> bool:
        with self._lock:
            return name in self._kept

    @property
    def names(self) -> list[str]:
        """The models kept, least recently used first."""
        with self._lock:
            return list(self._kept)

    @property
    def bytes(self) -> int:
        with self._lock:
            return sum(kept.size for kept in self._kept.values())

    def drop(self, name: str) -> None:
        with self._lock:
            kept = self._kept.pop(name, None)
        self._release([kept.model] if kept is not None else [])

    def _load_aside(self, name: str, future: "Future[T]") -> None:
        """`_load` in a thread of its own: its result or error goes to the waiters' future."""
        try:
            self._load(name, future)
        except BaseException:  # noqa: BLE001 - in the future already, for every waiter
            pass

    def _load(self, name: str, future: "Future[T]") -> T:
        try:
            model = self.load(name)
            size = self.size_of(model)
        except BaseException as exc:
            with self._lock:
                del self._loading[name]
            future.set_exception(exc)
            raise
        with self._lock:
            self._kept[name] = _Kept(model, size)
            del self._loading[name]
            self.loads += 1
            over = self._over_budget(name)
        self._release(over)
        future.set_result(model)
        return model

    def _make_room(self, name: str) -> list[T]:
        """Drop models, least recently used first, until `name` fits (the lock is held):
        fewer than `keep` with it, within `budget` with its expected bytes, and the device's
        free memory, with what the dropped ones give back, enough for it."""
        expected = self.expected(name) if self.expected else 0
        free = self.room() if self.room else None
        dropped: list[T] = []
        freed = 0
        while self._kept:
            too_many = self.keep is not None and len(self._kept) + len(self._loading) > self.keep
            over = self.budget is not None and sum(k.size for k in self._kept.values()) + expected > self.budget
            short = free is not None and free + freed < expected
            if not (too_many or over or short):
                break
            kept = self._kept.popitem(last=False)[1]
            freed += kept.size
            dropped.append(kept.model)
        return dropped

    def _over_budget(self, loaded: str) -> list[T]:
        """After a load: drop others while the measured bytes exceed the budget (the lock is held)."""
        over: list[T] = []
        if self.budget is None:
            return over
        while len(self._kept) > 1 and sum(k.size for k in self._kept.values()) > self.budget:
            oldest = next(iter(self._kept))
            if oldest == loaded:
                break
            over.append(self._kept.pop(oldest).model)
        return over

    def _release(self, models: list[T]) -> None:
        if self.dropped is not None:
            for model in models:
                self.dropped(model)
