"""The embedded SQLite database is private to its owner from the start."""
import os
import stat

from storage.database import database_from_url


def test_a_new_sqlite_database_and_its_journals_are_owner_only(tmp_path):
    old_umask = os.umask(0o022)  # the usual umask, which leaves new files world-readable
    try:
        database = database_from_url(f"sqlite:///{tmp_path / 'aqta.db'}")
        database.execute_sql("CREATE TABLE t (x INTEGER)")
        database.execute_sql("INSERT INTO t VALUES (1)")
        files = sorted(path.name for path in tmp_path.iterdir())
        assert files == ["aqta.db", "aqta.db-shm", "aqta.db-wal"]
        for path in tmp_path.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        database.close()
    finally:
        os.umask(old_umask)


def test_an_existing_database_is_opened_as_it_is(tmp_path):
    path = tmp_path / "kept.db"
    path.touch(mode=0o640)
    os.chmod(path, 0o640)
    database = database_from_url(f"sqlite:///{path}")
    database.execute_sql("SELECT 1")
    database.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
