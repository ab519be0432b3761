"""The lesson studio's engine (no Streamlit): check a draft as the teacher types, prove it in a
background thread with live progress, publish it only once this exact draft passed, and import packs
(each lesson proved, then published). A new draft starts as new-lesson's skeleton (a script, a notebook
or a project); a notebook draft's starter or solution comes from an .ipynb file and goes out as one (a project
draft's modules: tutor.authoring.modules)."""

from __future__ import annotations

import enum
import re
import shutil
import tempfile
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from tutor import settings
from tutor.authoring.new_lesson import skeleton_texts
from tutor.authoring.proofs import Proof
from tutor.authoring.publishing import ProofStore, Prover, count_proofs, lower_priority, proof_key, prove_lesson
from tutor.lessons.cells import NotebookError, code_cells, join_cells, parse_cells, read_ipynb, write_ipynb
from tutor.lessons.files import Draft, PublishError, content_hash, files_version, load_draft, publish_draft
from tutor.lessons.kinds import LessonKind
from tutor.lessons.lesson import Lesson, LessonError


@dataclass
class DraftCheck:
    """A draft as loaded: the lesson (None if broken), its problems as (file, field, problem), its hash."""

    lesson: Lesson | None
    problems: list[tuple[str, str, str]]
    digest: str | None


def new_draft(lesson_id: str, kind: LessonKind = LessonKind.SCRIPT) -> Draft:
    """A new lesson's draft: new-lesson's skeleton of that kind (it loads, and proves itself, as it is)."""
    return Draft(lesson_id, *skeleton_texts(lesson_id, kind))


def draft_kind(toml: str) -> LessonKind | None:
    """The kind the draft's TOML says (a script when it says none); None while it does not say one that
    can be read (a syntax error half-way through typing, an unknown kind)."""
    try:
        kind = tomllib.loads(toml).get("kind", LessonKind.SCRIPT)
    except tomllib.TOMLDecodeError:
        return None
    try:
        return LessonKind(kind)
    except (ValueError, TypeError):
        return None


def is_skeleton_solution(draft: Draft) -> bool:
    """The draft's solution is still the notebook skeleton's (an imported notebook may replace it too)."""
    return draft.solution == skeleton_texts(draft.lesson_id, LessonKind.NOTEBOOK)[2]


@dataclass(frozen=True)
class ImportedNotebook:
    text: str  # the percent-format text (tutor.lessons.cells)
    cells: int
    code_cells: int


def notebook_from_ipynb(raw: bytes) -> ImportedNotebook:
    """An uploaded .ipynb file as a notebook lesson's text (read_ipynb: capped, validated; outputs dropped).
    NotebookError says, in words, why a file cannot be one (its message follows the file's name)."""
    try:
        cells = read_ipynb(raw)
    except NotebookError:
        raise
    except Exception as exc:  # an uploaded file is untrusted: whatever it makes a reader raise is said in words
        raise NotebookError(f"could not be read: {type(exc).__name__}: {str(exc)[:300]}") from None
    if not code_cells(cells):
        raise NotebookError("has no code cell: a notebook lesson runs code")
    return ImportedNotebook(join_cells(cells), len(cells), len(code_cells(cells)))


def ipynb_of(text: str) -> str:
    """A notebook draft's starter or solution as an .ipynb file (nbformat v4, no outputs)."""
    return write_ipynb(parse_cells(text))


def outside_files(lesson: Lesson, lessons_dir: Path) -> list[tuple[str, str]]:
    """(field, problem) for each copy/generate file outside the lesson's folder. A lesson written in the
    browser or imported from a pack must not bring a server file (``copy = "/etc/shadow"``) into the
    sandbox, where its proofs, and later learners' programs, could read it."""
    problems = []
    base = lessons_dir.resolve()
    files = [f for case in lesson.cases for f in case.files] + [f for claim in lesson.claims for f in claim.files]
    for item in files:
        for key, path in (("copy", item.copy), ("generate", item.generate)):
            if path is not None and not path.resolve().is_relative_to(base):
                problems.append(
                    (f"{item.where}.{key}", "must name a file inside the lesson's folder (e.g. fixtures/x)")
                )
    return problems


def check_draft(draft: Draft) -> DraftCheck:
    """Load the draft as the app would (the wip-schema loader): every field at fault, named."""
    root = Path(tempfile.mkdtemp(prefix="check-", dir=settings.var_dir()))
    toml_name = f"lessons/{draft.lesson_id}.toml"
    try:
        lesson = load_draft(draft, root)
        outside = outside_files(lesson, root / "lessons")
        if outside:
            return DraftCheck(None, [(toml_name, name, problem) for name, problem in outside], None)
        return DraftCheck(lesson, [], content_hash(lesson))
    except LessonError as error:
        name = error.path.relative_to(root).as_posix() if error.path.is_relative_to(root) else error.path.name
        return DraftCheck(None, [(name, field_name, problem) for field_name, problem in error.problems], None)
    finally:
        shutil.rmtree(root, ignore_errors=True)


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]#]+?)\s*\]\]?\s*(#.*)?$")


def field_line(toml: str, field_path: str, problem: str = "") -> int | None:
    """The line (from 1) of the TOML where a field at fault is written, to mark it in the editor:
    ``checks[1].threshold`` is the ``threshold =`` line under the second ``[[checks]]``; a syntax or
    encoding problem gives its own line. None when the field is not written (a missing key)."""
    if field_path.startswith("("):
        found = re.search(r"line (\d+)", problem)
        return int(found.group(1)) if found else None
    lines = toml.splitlines()
    headers = [(n, match.group(2).replace(" ", ""), match.group(1) == "[[")
               for n, line in enumerate(lines) if (match := _HEADER.match(line))]  # fmt: skip
    start, end, best, prefix = 0, headers[0][0] if headers else len(lines), None, ""
    for name, index in re.findall(r"([^.\[\]]+)(?:\[(\d+)\])?", field_path):
        full = prefix + name
        matching = [n for n, header, array in headers if header == full and array == bool(index)]
        position = int(index) if index else 0
        if position < len(matching):
            best = matching[position]
            start = best + 1
            end = next((n for n, _, _ in headers if n > best), len(lines))
            prefix = full + "."
            continue
        key = re.compile(rf"^\s*[\"']?{re.escape(name)}[\"']?\s*=")
        written = next((n for n in range(start, end) if key.match(lines[n])), None)
        if written is None and not prefix:  # a top-level key written below a table (the table trap)
            written = next((n for n in range(len(lines)) if key.match(lines[n])), None)
        if written is not None:
            return written + 1
        break
    return best + 1 if best is not None else None


@dataclass
class ProofRun:
    """One draft being proved: its proofs arrive one by one (``proofs``) until ``finished``."""

    draft: Draft
    digest: str | None = None
    total: int = 0
    proofs: list[Proof] = field(default_factory=list)
    finished: bool = False
    passed: bool = False
    problem: str | None = None  # the draft did not load, or the proofs could not run

    def progress(self) -> tuple[int, int]:
        return len(self.proofs), max(self.total, len(self.proofs))


def start_proof_run(draft: Draft, store: ProofStore | None = None, prove: Prover = prove_lesson) -> ProofRun:
    """Prove ``draft`` in a background thread; the result is recorded in the store under its hash, so
    publishing it (and the library, once the files are in place) needs no second proof."""
    store = store or ProofStore()
    run = ProofRun(draft)
    thread = threading.Thread(target=_prove, args=(run, store, prove), name="studio-prove", daemon=True)
    thread.start()
    return run


def _prove(run: ProofRun, store: ProofStore, prove: Prover) -> None:
    lower_priority()
    root = Path(tempfile.mkdtemp(prefix="prove-", dir=settings.var_dir()))
    try:
        try:
            lesson = load_draft(run.draft, root)
        except LessonError as error:
            run.problem = f"the draft does not load: {error}"
            return
        outside = outside_files(lesson, root / "lessons")
        if outside:
            run.problem = "; ".join(f"field '{name}': {problem}" for name, problem in outside)
            return
        run.digest = content_hash(lesson)
        run.total = count_proofs(lesson)
        proofs = prove(lesson, run.proofs.append)
        record = store.record(proof_key(run.digest), lesson.id, proofs)
        run.passed = record.passed
    except Exception as exc:  # a proof run that breaks is a failed run, with the reason
        run.problem = f"the proofs could not run: {type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(root, ignore_errors=True)
        run.finished = True


def proved(draft: Draft, store: ProofStore | None = None) -> bool:
    """This exact draft passed its proofs (recorded in the store)."""
    check = check_draft(draft)
    if check.digest is None:
        return False
    record = (store or ProofStore()).get(proof_key(check.digest))
    return record is not None and record.passed


def publish(
    draft: Draft,
    base_version: str | None,
    store: ProofStore | None = None,
    lessons_dir: Path | None = None,
    solutions_dir: Path | None = None,
) -> list[Path]:
    """Publish a proved draft (tutor.lessons.files.publish_draft: atomic, locked, version-checked)."""
    return publish_draft(draft, base_version, proved(draft, store), lessons_dir, solutions_dir)


class ImportOutcome(enum.StrEnum):
    WAITING = "waiting"
    PROVING = "proving"
    PUBLISHED = "published"
    FAILED = "failed"  # a proof failed, or publishing was refused (the lesson changed meanwhile)
    REFUSED = "refused"  # the id exists and the teacher did not ask to replace it


REPLACE_LABEL = "Replace lessons that exist already"  # the studio's checkbox, named in REFUSED's message


@dataclass
class ImportItem:
    lesson_id: str
    run: ProofRun | None = None
    outcome: ImportOutcome = ImportOutcome.WAITING
    message: str = ""


@dataclass
class ImportRun:
    """A pack being imported: each lesson proved, then published (``replace``: existing lessons too)."""

    items: list[ImportItem]
    finished: bool = False


def start_import(
    drafts: list[Draft],
    replace: bool = False,
    store: ProofStore | None = None,
    prove: Prover = prove_lesson,
    lessons_dir: Path | None = None,
    solutions_dir: Path | None = None,
) -> ImportRun:
    store = store or ProofStore()
    job = ImportRun([ImportItem(draft.lesson_id) for draft in drafts])
    bases = {draft.lesson_id: files_version(draft.lesson_id, lessons_dir, solutions_dir) for draft in drafts}

    def work() -> None:
        try:
            for draft, item in zip(drafts, job.items, strict=True):
                base = bases[draft.lesson_id]
                if base is not None and not replace:
                    item.outcome = ImportOutcome.REFUSED
                    item.message = f"a lesson with this id exists; tick “{REPLACE_LABEL}” to import it over it"
                    continue
                item.outcome = ImportOutcome.PROVING
                item.run = run = ProofRun(draft)
                _prove(run, store, prove)
                if not run.passed:
                    failed = [f"{p.item}: {p.detail}" for p in run.proofs if not p.passed]
                    item.outcome, item.message = ImportOutcome.FAILED, run.problem or "; ".join(failed)
                    continue
                try:
                    publish_draft(draft, base, True, lessons_dir, solutions_dir)
                except PublishError as exc:
                    item.outcome, item.message = ImportOutcome.FAILED, str(exc).removeprefix("Not published: ")
                    continue
                item.outcome = ImportOutcome.PUBLISHED
                item.message = f"all {len(run.proofs)} proofs passed; learners see it now"
        finally:
            job.finished = True

    threading.Thread(target=work, name="pack-import", daemon=True).start()
    return job
