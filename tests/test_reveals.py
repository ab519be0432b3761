"""What a learner revealed per lesson (tutor.store.reveals), on SQLite and PostgreSQL: hints and the
confirmed solution are stored, never go back, are per learner and lesson, and Alembic revision 0003 adds
the table to a database made before it."""

from __future__ import annotations

from sqlalchemy import inspect, text

from tutor.store.db import IdentitySource, migrate_database
from tutor.store.progress import sign_in_learner
from tutor.store.reveals import Reveals, load_reveals, save_reveals


def learner(db, name: str = "Ada") -> str:
    return sign_in_learner(db, IdentitySource.WORKSHOP, name, name.lower(), "K").id


def test_nothing_revealed_in_a_lesson_never_opened(db) -> None:
    assert load_reveals(db, learner(db), "assign-the-model") == Reveals(0, False)


def test_hints_and_the_solution_are_kept_and_never_go_back(db) -> None:
    ada = learner(db)
    assert save_reveals(db, ada, "assign-the-model", 1, False) == Reveals(1, False)
    assert save_reveals(db, ada, "assign-the-model", 2, False) == Reveals(2, False)
    assert load_reveals(db, ada, "assign-the-model") == Reveals(2, False)
    # another tab of hers, opened before the second hint, reveals the solution: both are kept
    assert save_reveals(db, ada, "assign-the-model", 1, True) == Reveals(2, True)
    assert save_reveals(db, ada, "assign-the-model", 0, False) == Reveals(2, True)
    assert load_reveals(db, ada, "assign-the-model") == Reveals(2, True)


def test_reveals_are_per_learner_and_lesson(db) -> None:
    ada, bob = learner(db, "Ada"), learner(db, "Bob")
    save_reveals(db, ada, "assign-the-model", 3, True)
    save_reveals(db, ada, "load-or-build", 1, False)
    assert load_reveals(db, bob, "assign-the-model") == Reveals()
    assert load_reveals(db, ada, "load-or-build") == Reveals(1, False)
    assert load_reveals(db, ada, "assign-the-model") == Reveals(3, True)


def test_revision_0003_adds_the_table_to_an_older_database(db) -> None:
    ada = learner(db)
    with db.engine.begin() as connection:  # as a database of the version before (at revision 0002) was
        connection.execute(text("DROP TABLE lesson_reveals"))
        connection.execute(text("UPDATE alembic_version SET version_num = '0002_run_real_attempt'"))
    assert not inspect(db.engine).has_table("lesson_reveals")
    migrate_database(db.engine)
    assert inspect(db.engine).has_table("lesson_reveals")
    save_reveals(db, ada, "assign-the-model", 1, False)
    assert load_reveals(db, ada, "assign-the-model") == Reveals(1, False)
    migrate_database(db.engine)  # again: nothing to do
    assert load_reveals(db, ada, "assign-the-model") == Reveals(1, False)
