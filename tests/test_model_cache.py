"""The loaded-models LRU (canvas/painters/diffusion/model_cache.py), with plain objects for
models: what it keeps, what it drops, and that a load blocks nobody but who waits for it.
With real models: tests/test_models_painter.py."""

from __future__ import annotations

import threading

import pytest

from canvas.painters.diffusion.model_cache import ModelCache


class Loads:
    """A loader that records what it built; `gate[name]`, when set, holds that load until released."""

    def __init__(self) -> None:
        self.built: list[str] = []
        self.gates: dict[str, threading.Event] = {}
        self.started = threading.Event()
        self.fail: set[str] = set()

    def __call__(self, name: str) -> dict:
        self.started.set()
        if name in self.gates:
            assert self.gates[name].wait(10)
        if name in self.fail:
            raise ValueError(f"cannot load {name}")
        self.built.append(name)
        return {"name": name}


def test_switching_back_to_a_kept_model_loads_nothing_and_the_least_recent_goes_first():
    loads = Loads()
    cache = ModelCache(loads, size_of=lambda model: 100, keep=2)
    a = cache.get("a")
    cache.get("b")
    assert cache.get("a") is a and loads.built == ["a", "b"]
    cache.get("c")  # b was used least recently
    assert cache.names == ["a", "c"] and loads.built == ["a", "b", "c"]
    cache.get("b")  # evicted: loaded again, and a goes
    assert cache.names == ["c", "b"] and loads.built == ["a", "b", "c", "b"] and cache.loads == 4


def test_a_byte_budget_drops_models_until_the_next_one_fits():
    loads = Loads()
    sizes = {"a": 60, "b": 30, "c": 50}
    cache = ModelCache(loads, size_of=lambda model: sizes[model["name"]], keep=None, budget=100,
                       expected=lambda name: sizes[name])
    cache.get("a")
    cache.get("b")
    assert cache.names == ["a", "b"] and cache.bytes == 90
    cache.get("c")  # 90 + 50 > 100: a goes (b alone leaves room)
    assert cache.names == ["b", "c"] and cache.bytes == 80


def test_free_device_memory_bounds_what_is_kept():
    loads = Loads()
    free = {"bytes": 1000}
    cache = ModelCache(loads, size_of=lambda model: 400, keep=None, room=lambda: free["bytes"],
                       expected=lambda name: 400)
    cache.get("a")
    free["bytes"] = 500
    cache.get("b")  # 500 free is room for 400: a stays
    free["bytes"] = 100
    cache.get("c")  # 100 free, a's 400 back makes 500: a goes, b stays
    assert cache.names == ["b", "c"]


def test_dropped_models_are_handed_back():
    dropped = []
    cache = ModelCache(Loads(), size_of=lambda model: 1, keep=1, dropped=dropped.append)
    cache.get("a")
    cache.get("b")
    assert dropped == [{"name": "a"}]


def test_a_load_blocks_neither_a_kept_model_nor_the_cache_and_two_askers_share_it():
    loads = Loads()
    cache = ModelCache(loads, size_of=lambda model: 1, keep=3)
    a = cache.get("a")
    loads.gates["b"] = threading.Event()
    loads.started.clear()
    got: dict[str, object] = {}
    told: list[tuple[str, str]] = []
    first = threading.Thread(target=lambda: got.setdefault("first", cache.get("b", lambda *e: told.append(e))))
    second = threading.Thread(target=lambda: got.setdefault("second", cache.get("b", lambda *e: told.append(e))))
    first.start()
    assert loads.started.wait(10)
    second.start()
    # While b loads: a is handed out at once, and "b" is not there yet.
    assert cache.get("a") is a and "b" not in cache
    loads.gates["b"].set()
    first.join(10)
    second.join(10)
    assert got["first"] is got["second"] and loads.built == ["a", "b"]
    assert told.count(("loading", "b")) == 2 and told.count(("loaded", "b")) == 2


def test_a_failed_load_reaches_every_waiter_keeps_nothing_and_may_be_tried_again():
    loads = Loads()
    loads.fail.add("bad")
    cache = ModelCache(loads, size_of=lambda model: 1, keep=2)
    with pytest.raises(ValueError, match="cannot load bad"):
        cache.get("bad")
    assert cache.names == []
    loads.fail.clear()
    assert cache.get("bad") == {"name": "bad"}


def test_a_waiter_that_gives_up_leaves_at_once_and_the_load_goes_on_for_the_others():
    from canvas.painters.base import CancelToken, Cancelled

    loads = Loads()
    loads.gates["b"] = threading.Event()
    cache = ModelCache(loads, size_of=lambda model: 1, keep=2)
    mine, theirs = CancelToken(), CancelToken()
    told: dict[str, list[tuple[str, str]]] = {"mine": [], "theirs": []}
    ended: dict[str, object] = {}

    def wait(who: str, token: CancelToken) -> None:
        try:
            ended[who] = cache.get("b", lambda *e: told[who].append(e), token.raise_if_cancelled)
        except Cancelled as exc:
            ended[who] = exc

    first = threading.Thread(target=wait, args=("mine", mine))
    first.start()  # it asked first: the load is its, run in a thread of the cache's
    assert loads.started.wait(10)
    second = threading.Thread(target=wait, args=("theirs", theirs))
    second.start()
    mine.cancel()
    first.join(10)
    # Gone while the load is still held: it did not wait for it, and heard no "loaded".
    assert not first.is_alive() and isinstance(ended["mine"], Cancelled) and told["mine"] == [("loading", "b")]
    assert "b" not in cache and second.is_alive()
    loads.gates["b"].set()
    second.join(10)
    assert ended["theirs"] == {"name": "b"} and told["theirs"] == [("loading", "b"), ("loaded", "b")]
    assert cache.names == ["b"] and loads.built == ["b"]  # loaded once, kept for the next job
    assert cache.get("b", check=CancelToken().raise_if_cancelled) is ended["theirs"]


def test_a_failed_load_reaches_a_waiter_that_may_give_up():
    from canvas.painters.base import CancelToken

    loads = Loads()
    loads.fail.add("bad")
    cache = ModelCache(loads, size_of=lambda model: 1, keep=2)
    with pytest.raises(ValueError, match="cannot load bad"):
        cache.get("bad", check=CancelToken().raise_if_cancelled)
    assert cache.names == []


def test_keep_must_be_at_least_one():
    with pytest.raises(ValueError):
        ModelCache(Loads(), size_of=len, keep=0)
