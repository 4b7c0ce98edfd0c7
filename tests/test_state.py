"""The SQLite state store: round trips, transitions, versioning."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pipeline.errors import PipelineError
from pipeline.state import (
    PUBLISHED,
    SCHEMA_VERSION,
    STATE_FILE,
    UPLOADING,
    InfraRecord,
    Item,
    open_store,
)


def make_item(key: str = "media/a.mp4", **changes: object) -> Item:
    item = Item(
        key=key,
        bucket="b",
        source="a.mp4",
        source_path="/x/a.mp4",
        size=3,
        sha256="00",
        content_type="video/mp4",
        kind="video",
        stream_name="mp4:" + key,
        title="a",
        probe={"duration": 4.0},
    )
    for name, value in changes.items():
        setattr(item, name, value)
    return item


def test_items_round_trip_and_replace(tmp_path: Path) -> None:
    store = open_store(tmp_path / "state")
    store.put_item(make_item())
    store.put_item(make_item("media/b.mp4", state=PUBLISHED))
    store.put_item(make_item(state=PUBLISHED, attempts=2))
    assert [i.key for i in store.items()] == ["media/a.mp4", "media/b.mp4"]
    got = store.get_item("media/a.mp4")
    assert got == make_item(state=PUBLISHED, attempts=2)
    assert store.get_item("nope") is None
    store.close()


def test_transitions_are_kept_in_order(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.record_transition("k", UPLOADING, "t1")
    store.record_transition("k", PUBLISHED, "t2", "done")
    assert store.transitions("k") == [(UPLOADING, "t1", ""), (PUBLISHED, "t2", "done")]


def test_infra_round_trip(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    record = InfraRecord("streaming_distribution", "E1", "d.example", "ET", "Deployed", {"a": [1]})
    store.put_infra(record)
    assert store.get_infra("streaming_distribution") == record
    assert store.infra() == [record]


def test_schema_version_is_recorded_and_survives_reopen(tmp_path: Path) -> None:
    open_store(tmp_path).close()
    with sqlite3.connect(tmp_path / STATE_FILE) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    store = open_store(tmp_path)
    store.put_item(make_item())
    store.close()
    assert open_store(tmp_path).get_item("media/a.mp4") is not None


def test_newer_store_is_refused_with_the_fix(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / STATE_FILE) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(PipelineError, match="newer than this mediapub understands"):
        open_store(tmp_path)


def test_unwritable_state_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PipelineError, match="cannot open the state store"):
        open_store(blocker / "state")


def test_version_1_store_is_migrated_forward(tmp_path: Path) -> None:
    from pipeline.state import _MIGRATIONS

    with sqlite3.connect(tmp_path / STATE_FILE) as db:
        db.executescript(_MIGRATIONS[1] + "\nPRAGMA user_version = 1;")
        db.execute(
            "INSERT INTO items VALUES ('media/a.mp4', 'b', 'a.mp4', '/x/a.mp4', 3, '00', "
            "'video/mp4', 'video', 'mp4:media/a.mp4', 'a', 'published', '', '', 1, '', '', "
            "'t', 't', '{}')"
        )
    store = open_store(tmp_path)
    item = store.get_item("media/a.mp4")
    assert item is not None and item.state == PUBLISHED and item.source_mtime_ns == 0
    assert [i.key for i in store.items_in(PUBLISHED)] == ["media/a.mp4"]
    store.close()
    with sqlite3.connect(tmp_path / STATE_FILE) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
