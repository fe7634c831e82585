"""``check --write`` (engine/writecheck.py) leaves nothing behind, or says what it left."""

from __future__ import annotations

import pytest

from circadian_scp_upload.engine.writecheck import prove_destination
from circadian_scp_upload.errors import RemotePathError
from tests.unit.fake_remote import MemoryRemote


class Undeletable(MemoryRemote):
    """A server whose account may create files but not delete them."""

    def remove(self, path: str) -> None:
        self._do("remove", path)
        raise RemotePathError(f"permission denied: {path}")


def test_the_probe_and_the_folders_made_for_it_are_gone_afterwards() -> None:
    remote = MemoryRemote()
    remote.folders.add("/srv")
    said = prove_destination(remote, "/srv/upload/station-07")
    assert said[0] == "/srv/upload/station-07: made now"
    assert said[-1] == "removed it and the folders made for it: nothing left behind"
    assert remote.files == {}
    assert remote.folders == {"/", ".", "/srv"}


def test_a_folder_that_was_there_stays() -> None:
    remote = MemoryRemote()
    remote.folders |= {"/srv", "/srv/upload"}
    said = prove_destination(remote, "/srv/upload")
    assert said[0] == "/srv/upload: the folder exists"
    assert said[-1] == "removed it: nothing left behind"
    assert remote.files == {}
    assert "/srv/upload" in remote.folders


def test_a_probe_that_cannot_be_removed_is_named_not_denied() -> None:
    remote = Undeletable()
    remote.folders |= {"/srv", "/srv/upload"}
    with pytest.raises(RemotePathError, match=r"/srv/upload/\.csu-check-\w+ is still there"):
        prove_destination(remote, "/srv/upload")
    assert len(remote.files) == 1  # the account's limit, said; nothing hidden
