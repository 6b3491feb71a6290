"""The choice of a session's port block, without the async store: shared by `PortsRepo` and the
lean `new` on plain sqlite3 (store/quick.py), so both pick the same block."""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from collections.abc import Callable

FINISHED_STATUSES = ("done", "archived")


def port_is_free(port: int) -> bool:
    """Whether nothing listens on `port` (a bind on the loopback succeeds)."""
    # `_socket`, the C module under `socket`: the wrapper (its enums, `selectors`) cost 3 ms of every
    # `ampsm new`, for one bind
    import _socket

    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        return False
    finally:
        sock.close()
    return True


def choose_block(
    blocks: list[tuple[int, int]], low: int, high: int, size: int, probe: Callable[[int], bool] = port_is_free
) -> int | None:
    """The first port of the lowest free block of `size` in `[low, high]`, clear of the allocated
    `blocks` (first port, size) and of ports some program listens on; None when there is none.
    Pure but for `probe`: the async store and the lean `new` (store/quick.py) share it."""
    taken = [(first, first + n - 1) for first, n in blocks]
    first = low
    while first + size - 1 <= high:
        last = first + size - 1
        clash = next((b for b in taken if b[0] <= last and first <= b[1]), None)
        if clash is not None:
            first = clash[1] + 1
            continue
        busy = next((p for p in range(first, last + 1) if not probe(p)), None)
        if busy is not None:
            first = busy + 1
            continue
        return first
    return None
