"""The studio's engine: drafts checked as the teacher types, publish only when proved (atomic, one
winner when two teachers publish at once), and lesson packs (export, import, every bad entry refused
with its name). A stand-in prover decides proofs here; real proofs run in test_browser_studio.py."""

from __future__ import annotations

import io
import os
import stat
import threading
import zipfile
from pathlib import Path

import pytest

from tests.waiting import wait_for
from tutor.authoring.new_lesson import write_skeleton
from tutor.authoring.proofs import Proof
from tutor.authoring.publishing import ProofStore
from tutor.authoring.studio import check_draft, publish, start_import, start_proof_run
from tutor.lessons.files import Draft, PublishError, files_version, publish_draft, read_draft, write_all
from tutor.lessons.lesson import load_lessons
from tutor.lessons.packs import MAX_MEMBER_BYTES, PackError, export_pack, read_pack


def stand_in_prover(lesson, report) -> list[Proof]:
    ok = "BROKEN" not in lesson.solution
    proofs = [Proof(lesson.id, "solution", ok, "passes" if ok else "the solution fails"),
              Proof(lesson.id, "starter", True, "fails as intended")]  # fmt: skip
    for proof in proofs:
        report(proof)
    return proofs


@pytest.fixture
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("TUTOR_VAR_DIR", str(tmp_path / "var"))
    lessons, solutions = tmp_path / "lessons", tmp_path / "solutions"
    write_skeleton("keep-the-model", lessons, solutions)
    return lessons, solutions


@pytest.fixture
def store(tmp_path) -> ProofStore:
    return ProofStore(tmp_path / "var" / "proofs.json")


def prove(draft: Draft, store: ProofStore) -> None:
    run = start_proof_run(draft, store, prove=stand_in_prover)
    assert wait_for(lambda: run.finished), "the proof run never finished"
    assert run.problem is None, run.problem


def new_draft(folders, lesson_id: str = "new-one") -> Draft:
    draft = read_draft("keep-the-model", *folders)
    draft.lesson_id = lesson_id
    draft.toml = draft.toml.replace('id = "keep-the-model"', f'id = "{lesson_id}"')
    return draft


# -- checking a draft as the teacher types ---------------------------------------------------------------
def test_a_draft_with_a_misspelt_key_names_the_file_and_the_field(folders) -> None:
    draft = read_draft("keep-the-model", *folders)
    assert check_draft(draft).problems == [] and check_draft(draft).lesson is not None
    draft.toml = draft.toml.replace("time_s = 120", "time_s = 120\ntime_limit = 5")
    check = check_draft(draft)
    assert check.lesson is None
    (name, field, problem), *_ = check.problems
    assert name == "lessons/keep-the-model.toml" and field == "limits.time_limit", check.problems
    assert "time_s" in problem  # did you mean


def test_a_draft_whose_replace_matches_nothing_names_the_pair(folders) -> None:
    draft = read_draft("keep-the-model", *folders)
    draft.solution = draft.solution.replace("model = build_model()", "model = build_model( )")
    fields = [field for _, field, _ in check_draft(draft).problems]
    assert "wrong[0].replace[0]" in fields


def test_a_draft_may_not_bring_a_server_file_into_the_sandbox(folders, store) -> None:
    draft = read_draft("keep-the-model", *folders)
    draft.toml += '\n[[cases]]\nid = "leak"\nfiles = [{ name = "x", copy = "/etc/passwd" }]\n'
    check = check_draft(draft)
    assert check.lesson is None
    assert check.problems[0][:2] == ("lessons/keep-the-model.toml", "cases[0].files[0].copy"), check.problems
    run = start_proof_run(draft, store, prove=stand_in_prover)
    assert wait_for(lambda: run.finished), "the proof run never finished"
    assert not run.passed and "cases[0].files[0].copy" in run.problem


# -- publishing -----------------------------------------------------------------------------------------------
def test_publish_refuses_a_draft_that_was_not_proved(folders, store) -> None:
    draft = new_draft(folders)
    with pytest.raises(PublishError, match="prove this version first"):
        publish(draft, None, store, *folders)
    assert not (folders[0] / "new-one.toml").exists()


def test_publish_refuses_a_draft_whose_proofs_failed(folders, store) -> None:
    draft = new_draft(folders)
    draft.solution += "\n# BROKEN\n"
    prove(draft, store)
    with pytest.raises(PublishError, match="prove this version first"):
        publish(draft, None, store, *folders)


def test_publish_writes_the_proved_draft_and_an_edit_after_proving_needs_new_proofs(folders, store) -> None:
    draft = new_draft(folders)
    prove(draft, store)
    draft.starter += "\n# typed after proving\n"
    with pytest.raises(PublishError):
        publish(draft, None, store, *folders)
    prove(draft, store)
    written = publish(draft, None, store, *folders)
    assert {path.name for path in written} == {"new-one.toml", "new-one.py"}
    lesson = load_lessons(*folders).get("new-one")
    assert lesson is not None and lesson.starter.endswith("# typed after proving\n")


def test_two_teachers_publishing_the_same_lesson_at_once_one_wins(folders, store) -> None:
    base = files_version("keep-the-model", *folders)
    drafts = [read_draft("keep-the-model", *folders) for _ in range(2)]
    for number, draft in enumerate(drafts):
        draft.toml = draft.toml.replace('title = "TODO: a short title"', f'title = "Teacher {number}"')
        prove(draft, store)
    barrier = threading.Barrier(2)
    outcomes: list[str] = [""] * 2

    def teacher(number: int) -> None:
        barrier.wait()
        try:
            publish(drafts[number], base, store, *folders)
            outcomes[number] = "published"
        except PublishError as exc:
            outcomes[number] = str(exc)

    threads = [threading.Thread(target=teacher, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(outcomes)[1] == "published" and outcomes.count("published") == 1, outcomes
    loser = next(outcome for outcome in outcomes if outcome != "published")
    assert "was changed since you opened it" in loser and "keep-the-model" in loser
    winner = outcomes.index("published")
    assert load_lessons(*folders).get("keep-the-model").title == f"Teacher {winner}"


def test_two_teachers_creating_the_same_new_id_one_wins(folders, store) -> None:
    draft = new_draft(folders)
    prove(draft, store)
    publish(draft, None, store, *folders)
    with pytest.raises(PublishError, match="exists already"):
        publish(draft, None, store, *folders)


def test_publish_writes_all_files_or_none(folders, monkeypatch) -> None:
    lessons, solutions = folders
    before = {path: path.read_bytes() for path in [*lessons.iterdir(), *solutions.iterdir()]}
    targets = {path: b"new " + path.name.encode() for path in before}
    real_replace = os.replace
    calls = []

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        write_all(targets)
    monkeypatch.setattr(os, "replace", real_replace)
    assert {path: path.read_bytes() for path in before} == before  # the first file was put back
    assert sorted(p.name for p in lessons.iterdir()) == sorted(p.name for p in before if p.parent == lessons)
    assert publish_draft  # (the studio publishes through write_all)


# -- packs --------------------------------------------------------------------------------------------------
def zip_of(entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def good_entries(folders) -> list[tuple[str, bytes]]:
    return [(name, data) for name, data in read_draft("keep-the-model", *folders).files().items()]


def test_export_then_import_round_trips(folders) -> None:
    pack = read_pack(export_pack(["keep-the-model"], *folders))
    (draft,) = pack.drafts()
    assert draft == read_draft("keep-the-model", *folders)


def symlink_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    ("entry", "data", "expected"),
    [
        ("lessons/../../etc/passwd", b"x", "'..' is not allowed"),
        ("../solutions/keep-the-model.py", b"x", "'..' is not allowed"),
        ("/etc/cron.d/evil", b"x", "absolute paths are not allowed"),
        ("C:/evil.toml", b"x", "absolute paths are not allowed"),
        (symlink_entry("lessons/fixtures/passwd"), b"/etc/passwd", "symbolic links are not allowed"),
        ("lessons/big.bin", b"0" * (MAX_MEMBER_BYTES + 1), "at most"),
        ("app.py", b"import os", "only lessons/... and solutions/..."),
        ("lessons\\evil.toml", b"x", "backslashes"),
        ("lessons/.hidden", b"x", "hidden files"),
        ("lessons/Not An Id.toml", b"x", "is not a lesson id"),
    ],
)
def test_a_bad_pack_entry_is_refused_by_name(folders, entry, data, expected) -> None:
    name = entry.filename if isinstance(entry, zipfile.ZipInfo) else entry
    with pytest.raises(PackError, match=expected) as caught:
        read_pack(zip_of([*good_entries(folders), (entry, data)]))
    assert f"entry '{name}'" in str(caught.value)


def test_a_member_that_lies_about_its_size_is_refused(folders) -> None:
    raw = bytearray(zip_of([*good_entries(folders), ("lessons/fixtures/bomb.bin", b"\0" * (MAX_MEMBER_BYTES + 10))]))
    # Rewrite the declared size in the central directory to 10 bytes: the bytes read still count.
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as archive:
        info = archive.getinfo("lessons/fixtures/bomb.bin")
    size = (MAX_MEMBER_BYTES + 10).to_bytes(4, "little")
    assert raw.count(size) >= 1
    raw = raw.replace(size, (10).to_bytes(4, "little"))
    with pytest.raises(PackError, match="entry 'lessons/fixtures/bomb.bin'"):
        read_pack(bytes(raw))
    assert info.file_size == MAX_MEMBER_BYTES + 10


def test_a_pack_that_is_not_a_zip_or_has_no_lessons_is_refused(folders) -> None:
    with pytest.raises(PackError, match="not a zip file"):
        read_pack(b"PK\x03\x04 but not really")
    with pytest.raises(PackError, match="no lessons/<id>.toml"):
        read_pack(zip_of([("solutions/x.py", b"print(1)")]))
    entries = [(name, data) for name, data in good_entries(folders) if not name.startswith("solutions/")]
    with pytest.raises(PackError, match="entry 'solutions/keep-the-model.py' is missing"):
        read_pack(zip_of(entries))


def test_import_proves_then_publishes_and_refuses_failures(folders, store, tmp_path) -> None:
    good, bad = new_draft(folders, "from-a-pack"), new_draft(folders, "broken-in-pack")
    bad.solution += "\n# BROKEN\n"
    pack = read_pack(zip_of([(n, d) for draft in (good, bad) for n, d in draft.files().items()]))
    job = start_import(pack.drafts(), store=store, prove=stand_in_prover, lessons_dir=folders[0],
                       solutions_dir=folders[1])  # fmt: skip
    assert wait_for(lambda: job.finished), "the import never finished"
    outcomes = {item.lesson_id: (item.outcome, item.message) for item in job.items}
    assert outcomes["from-a-pack"] == ("published", "all 2 proofs passed; learners see it now")
    assert outcomes["broken-in-pack"][0] == "failed" and "solution" in outcomes["broken-in-pack"][1]
    assert load_lessons(*folders).get("from-a-pack") is not None
    assert not Path(folders[0] / "broken-in-pack.toml").exists()

    again = start_import(read_pack(zip_of(list(good.files().items()))).drafts(), store=store,
                         prove=stand_in_prover, lessons_dir=folders[0], solutions_dir=folders[1])  # fmt: skip
    assert wait_for(lambda: again.finished), "the import never finished"
    assert again.items[0].outcome == "refused"  # an existing lesson is replaced only when asked
