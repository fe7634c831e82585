"""paramiko's private hooks (``remote/compat.py``): each still exists, with the
signature the transport relies on, in the paramiko that is installed.

The test command runs this file against the newest paramiko allowed and again, with
the tiers that exercise the hooks, against the lowest (``tests/compat/``): a paramiko
release that renames or reshapes a hook fails here, not silently in the field.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import textwrap
from pathlib import Path

import paramiko
import pytest
from paramiko import SFTPAttributes

import circadian_scp_upload
from circadian_scp_upload.remote import compat
from circadian_scp_upload.remote.compat import ATTRIBUTE_HOOKS, METHOD_HOOKS
from circadian_scp_upload.remote.wire import Request
from tests.unit.paramiko_peer import paramiko_peer


@pytest.mark.parametrize("hook", METHOD_HOOKS, ids=lambda h: f"{h.owner.__name__}.{h.name}")
def test_each_private_method_exists_with_the_parameters_relied_on(hook: compat.Hook) -> None:
    method = getattr(hook.owner, hook.name, None)
    assert callable(method), f"paramiko {paramiko.__version__} has no {hook.name}"
    names = tuple(inspect.signature(method).parameters)
    assert names[: len(hook.parameters)] == hook.parameters, (
        f"paramiko {paramiko.__version__}: {hook.owner.__name__}.{hook.name}{names} "
        f"changed; the transport relies on {hook.parameters} ({hook.why})"
    )
    required = [
        p.name
        for p in inspect.signature(method).parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    assert set(required) <= set(hook.parameters), f"{hook.name} now requires {required}"


def test_each_private_attribute_is_on_live_objects(tmp_path: Path) -> None:
    root = tmp_path / "served"
    root.mkdir()
    (root / "file.bin").write_bytes(b"x" * 10)
    with paramiko_peer(root) as (transport, wire):
        handle = wire.open("/file.bin", "r+b")
        live = {paramiko.SFTPClient: wire, paramiko.SFTPFile: handle, paramiko.Transport: transport}
        for owner, name, why in ATTRIBUTE_HOOKS:
            assert hasattr(live[owner], name), (
                f"paramiko {paramiko.__version__}: {owner.__name__} objects have no {name} ({why})"
            )
        assert isinstance(wire.request_number, int)
        assert isinstance(transport.clear_to_send_timeout, (int, float))
        handle.close()


def test_the_hooks_work_end_to_end_on_a_real_paramiko_peer(tmp_path: Path) -> None:
    """One connection through every hook: the key exchange's offers (and its count),
    the VERSION reply's extensions, pipelined requests, a lossless listing, and the
    statuses of pipelined writes."""
    root = tmp_path / "served"
    (root / "folder").mkdir(parents=True)
    (root / "folder" / "a.bin").write_bytes(b"a" * 100)
    with paramiko_peer(root) as (transport, wire):
        assert transport.key_exchanges == 1
        assert "aes128-ctr" in transport.server_ciphers
        assert isinstance(wire.extensions, dict)
        names = [name for name, _attrs in wire.list_folder(b"/folder")]
        assert names == ["a.bin"]
        results = wire.pipeline(
            compat_request(compat.CMD_OPEN, b"/folder/new.bin") for _ in range(3)
        )
        assert all(isinstance(r, bytes) and r for r in results)
        flags = compat.SFTP_FLAG_WRITE | compat.SFTP_FLAG_CREATE | compat.SFTP_FLAG_TRUNC
        _kind, reply = wire.request(compat.CMD_OPEN, b"/folder/b.bin", flags, SFTPAttributes())
        handle = reply.get_binary()
        numbers = wire.queue(
            Request(compat.CMD_WRITE, (handle, compat.int64(offset), b"b" * 10000))
            for offset in range(0, 70000, 10000)
        )
        for number in reversed(numbers):  # replies are awaited in any order
            assert wire.wait_reply(number)[0] == compat.CMD_STATUS
        wire.request(compat.CMD_CLOSE, handle)
        assert (root / "folder" / "b.bin").stat().st_size == 70000


def compat_request(command: int, path: bytes) -> Request:
    flags = compat.SFTP_FLAG_WRITE | compat.SFTP_FLAG_CREATE | compat.SFTP_FLAG_TRUNC
    return Request(command, (path, flags, paramiko.SFTPAttributes()))


DEPENDENCIES = ("paramiko", "pydantic_settings", "pydantic", "tenacity", "loguru")


def _package_classes() -> list[type]:
    found = []
    package = Path(circadian_scp_upload.__file__).parent
    for info in pkgutil.walk_packages([str(package)], "circadian_scp_upload."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        found += [
            value
            for value in vars(module).values()
            if inspect.isclass(value) and value.__module__ == module.__name__
        ]
    return found


def test_no_module_but_compat_overrides_a_private_member_of_a_dependency() -> None:
    """A class of ours that defines ``_name`` which a base class from another package
    already has is overriding that package's private API: only compat.py may."""
    offenders = []
    for cls in _package_classes():
        if cls.__module__ == compat.__name__:
            continue
        for name, value in vars(cls).items():
            if not name.startswith("_") or name.startswith("__") or not callable(value):
                continue
            for base in cls.__mro__[1:]:
                if base.__module__.startswith(DEPENDENCIES) and name in vars(base):
                    offenders.append(f"{cls.__module__}.{cls.__name__}.{name} ({base.__module__})")
    assert not offenders, offenders


def test_no_module_but_compat_reads_a_private_member_of_another_object() -> None:
    """``thing._name`` where ``thing`` is not ``self``, ``cls`` or ``super()`` reaches
    into someone else's private API: only compat.py may (namedtuple's documented
    ``_replace`` aside)."""
    offenders = []
    package = Path(circadian_scp_upload.__file__).parent
    for path in sorted(package.rglob("*.py")):
        if path.name == "compat.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
                continue
            if node.attr.startswith("__") or node.attr == "_replace":
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Call) and getattr(owner.func, "id", "") == "super":
                continue
            offenders.append(f"{path.relative_to(package)}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, offenders


def test_no_subclass_of_a_dependency_uses_its_private_members_outside_compat() -> None:
    """``self._name`` in a subclass of a paramiko (or other dependency) class, where that
    class has ``_name`` (a method, or an attribute its source sets): private API used
    outside compat.py."""
    offenders = []
    for cls in _package_classes():
        if cls.__module__ == compat.__name__:
            continue
        bases = [b for b in cls.__mro__[1:] if b.__module__.startswith(DEPENDENCIES)]
        if not bases:
            continue
        theirs = "".join(inspect.getsource(base) for base in bases)
        names = {name for base in bases for name in vars(base)}
        for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(cls)))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("self", "cls")
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and (node.attr in names or f"self.{node.attr}" in theirs)
            ):
                offenders.append(f"{cls.__module__}.{cls.__name__}: self.{node.attr}")
    assert not offenders, sorted(set(offenders))


def test_replies_given_up_on_leave_nothing_behind_on_the_connection(tmp_path: Path) -> None:
    """A file abandoned mid-way (a full disk, a stop) gives up on its writes' statuses:
    on a connection kept for the next pass, none of them may pile up."""
    root = tmp_path / "served"
    root.mkdir()
    with paramiko_peer(root) as (_transport, wire):
        flags = compat.SFTP_FLAG_WRITE | compat.SFTP_FLAG_CREATE | compat.SFTP_FLAG_TRUNC
        _kind, reply = wire.request(compat.CMD_OPEN, b"/abandoned.bin", flags, SFTPAttributes())
        handle = reply.get_binary()
        numbers = wire.queue(
            Request(compat.CMD_WRITE, (handle, compat.int64(offset), b"x" * 1000))
            for offset in range(0, 50_000, 1000)
        )
        wire.discard(numbers)
        wire.request(compat.CMD_CLOSE, handle)  # its replies come in while this waits
        assert not any(wire.expects(number) for number in numbers)
        assert wire._box.replies == {}
